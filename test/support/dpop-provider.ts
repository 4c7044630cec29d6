/**
 * oidc-provider 9 on 127.0.0.1 with DPoP (`features.dPoP`) and nonces that can be switched
 * on, for client-assertion (`private_key_jwt`) clients registered with the key of
 * {@link DPOP_CLIENT_KEY}: `dpop-client` (`dpop_bound_access_tokens: true`) and
 * `either-client` (DPoP when a proof is sent, Bearer otherwise).
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Provider from 'oidc-provider';
import { KEYSTORE_FIXTURES } from './keys.ts';

/** The keystore fixture the broker's profile signs its client assertions with. */
export const DPOP_CLIENT_KEY = join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem');

/** A running provider. */
export interface DpopProvider {
  readonly issuer: string;
  readonly tokenUrl: string;
  /** Requests to the token endpoint so far. */
  tokenRequests(): number;
  /** Whether every proof must carry a provider nonce (RFC 9449 §8). */
  requireNonce: boolean;
  /** The thumbprint (`cnf.jkt`) an issued access token is bound to; undefined for Bearer or unknown. */
  boundTo(accessToken: string): Promise<string | undefined>;
  close(): Promise<void>;
}

function client(clientId: string, fields: Record<string, unknown>) {
  const cert = new X509Certificate(readFileSync(`${DPOP_CLIENT_KEY}.cert.pem`, 'utf8'));
  return {
    client_id: clientId,
    token_endpoint_auth_method: 'private_key_jwt',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'api:read',
    jwks: { keys: [cert.publicKey.export({ format: 'jwk' })] },
    ...fields,
  };
}

/** Starts the provider. */
export async function startDpopProvider(): Promise<DpopProvider> {
  const http = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  let tokenRequests = 0;
  const state: DpopProvider = {
    issuer,
    tokenUrl: `${issuer}/token`,
    tokenRequests: () => tokenRequests,
    requireNonce: false,
    boundTo: async (accessToken) => {
      const models = provider as unknown as {
        ClientCredentials: { find(token: string): Promise<{ jkt?: string } | undefined> };
      };
      return (await models.ClientCredentials.find(accessToken))?.jkt;
    },
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
  const provider = new Provider(issuer, {
    clients: [client('dpop-client', { dpop_bound_access_tokens: true }), client('either-client', {})],
    scopes: ['api:read'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['RS256'],
      dPoPSigningAlgValues: ['ES256', 'PS256', 'EdDSA', 'Ed25519'],
    },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => state.requireNonce },
    },
  });
  const callback = provider.callback();
  http.on('request', (req, res) => {
    if (req.url?.startsWith('/token')) tokenRequests += 1;
    callback(req, res);
  });
  return state;
}
