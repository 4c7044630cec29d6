import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../lib/broker/index.ts';
import { configFrom, fileSecrets, profileYaml } from './support/broker-env.ts';
import { KEYSTORE_FIXTURES } from './support/keys.ts';

const CALLER = { id: 'svc', kind: 'api-key' } as const;
const KEYS = {
  rsa: 'pem-rsa2048-with-cert.pem',
  ec: 'pem-ec384-encrypted-with-cert.pem',
} as const;

let http: Server;
let issuer: string;
let tokenRequests = 0;

function publicJwk(file: string) {
  const cert = new X509Certificate(readFileSync(join(KEYSTORE_FIXTURES, `${file}.cert.pem`), 'utf8'));
  return cert.publicKey.export({ format: 'jwk' });
}

beforeAll(async () => {
  http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: 'rsa-client',
        token_endpoint_auth_method: 'private_key_jwt',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: 'api:read api:write',
        jwks: { keys: [publicJwk(KEYS.rsa)] },
      },
      {
        client_id: 'ec-client',
        token_endpoint_auth_method: 'private_key_jwt',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        jwks: { keys: [publicJwk(KEYS.ec)] },
      },
    ],
    scopes: ['api:read', 'api:write'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'] },
    features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  });
  const callback = provider.callback();
  http.on('request', (req, res) => {
    if (req.url?.startsWith('/token')) tokenRequests += 1;
    callback(req, res);
  });
});
afterAll(
  () =>
    new Promise<void>((resolve) => {
      http.closeAllConnections();
      http.close(() => resolve());
    }),
);

function brokerFor(clientId: string, file: string, fields: Record<string, unknown> = {}) {
  const config = configFrom(
    profileYaml('oidc', {
      issuer: clientId,
      grant: 'client-assertion',
      tokenUri: `${issuer}/token`,
      certStore: `file:${join(KEYSTORE_FIXTURES, file)}`,
      callers: [CALLER.id],
      ...fields,
    }),
  );
  return createBroker({ config, secrets: fileSecrets({ PW: 'pä ss wörd ✓' }) });
}

describe('client-assertion mode against oidc-provider', () => {
  it('obtains a client_credentials token with an RS256 private_key_jwt assertion, with scope', async () => {
    const broker = brokerFor('rsa-client', KEYS.rsa, { scope: 'api:read api:write' });
    const before = tokenRequests;
    const token = await broker.issue({ profile: 'oidc', scope: 'api:read', caller: CALLER });
    expect(token).toMatchObject({ token_type: 'Bearer', scope: 'api:read', cached: false });
    expect(token.access_token.length).toBeGreaterThan(20);
    expect(token.expires_in).toBeGreaterThan(0);
    await broker.issue({ profile: 'oidc', scope: 'api:read', caller: CALLER });
    expect(tokenRequests - before).toBe(1);
  });

  it('obtains a token with an ES384 assertion from an encrypted PEM key', async () => {
    const broker = brokerFor('ec-client', KEYS.ec, { certPassword: 'env:PW' });
    await expect(broker.issue({ profile: 'oidc', caller: CALLER })).resolves.toMatchObject({
      token_type: 'Bearer',
    });
  });

  it('reports the provider’s invalid_client when the key is not the registered one', async () => {
    const broker = brokerFor('ec-client', KEYS.rsa);
    await expect(broker.issue({ profile: 'oidc', caller: CALLER })).rejects.toMatchObject({
      code: 'ERR_UPSTREAM_REJECTED',
      error: 'invalid_client',
      status: 401,
    });
  });
});
