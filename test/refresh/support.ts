/** Pieces of the scheduled-refresh tests: profiles on the fixture key, brokers, token endpoints. */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createBroker, type BrokerDeps, type TokenBroker } from '../../lib/broker/index.ts';
import { createSharedStore } from '../../lib/cache/shared-store-factory.ts';
import type { SharedTokenStore } from '../../lib/cache/types.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import type { Clock } from '../../lib/types.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';

export const KEY_FILE = join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem');
export const CERT_FILE = `${KEY_FILE}.cert.pem`;

/** A profile signing with the fixture key, as YAML under `profiles:`. */
export function refreshProfile(name: string, tokenUrl: string, fields: Record<string, unknown> = {}): string {
  return profileYaml(name, {
    issuer: 'app',
    subject: 'alice@example.com',
    subjects: ['*@example.com'],
    tokenUri: `POST ${tokenUrl}`,
    scope: 'read write',
    certStore: `file:${KEY_FILE}`,
    callers: ['local', 'arn:aws:iam::123456789012:role/billing-*'],
    ...fields,
  });
}

/** `cache:` settings for a dynalite table, sealed with `env:SEAL_KEY`. */
export function dynamoCacheYaml(endpoint: string, table: string): string {
  return `cache:\n  store: dynamodb\n  table: ${table}\n  endpoint: ${endpoint}\n  sealKey: env:SEAL_KEY\n`;
}

/** A fresh seal key as the `env:` reference reads it. */
export function sealEnv(): Record<string, string> {
  return { SEAL_KEY: randomBytes(32).toString('hex') };
}

/** One broker instance (as one Lambda container would be) with its shared store per `config.cache`. */
export async function instance(
  config: BrokerConfig,
  env: Record<string, string>,
  clock: Clock,
  deps: Partial<BrokerDeps> = {},
): Promise<{ broker: TokenBroker; sharedStore: SharedTokenStore | undefined }> {
  const secrets = fileSecrets(env);
  const sharedStore = await createSharedStore(config.cache, { secrets, clock });
  const broker = createBroker({ config, secrets, clock, sharedStore, ...deps });
  return { broker, sharedStore };
}

export { configFrom };

/** A scripted token endpoint: each request is handed to `onRequest` with a way to answer it. */
export interface ScriptedEndpoint {
  readonly url: string;
  count(): number;
  close(): Promise<void>;
}

/** Answers with a valid RFC 6749 §5.1 token (opaque, random). */
export function answerToken(res: ServerResponse, expiresIn = 3600): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(
    JSON.stringify({
      access_token: `at-${randomBytes(12).toString('hex')}`,
      token_type: 'Bearer',
      expires_in: expiresIn,
    }),
  );
}

export async function startScriptedEndpoint(
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<ScriptedEndpoint> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      n += 1;
      onRequest(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/token`,
    count: () => n,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
