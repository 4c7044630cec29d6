/**
 * Fixtures of the consent tests: a config with a consent profile whose key is the demo
 * JKS keystore (made by keytool), pointed at a local authorization server, and the
 * certificate that server verifies assertions with.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';

const EXAMPLES = fileURLToPath(new URL('../../examples/local/', import.meta.url));

/** The client secret of the consent profile's client (a test value). */
export const CLIENT_SECRET = 'consent-test-secret';
export const CLIENT_ID = 'consent-client';

/** The certificate of the demo keystore's key. */
export function demoCertificate(): Promise<string> {
  return readFile(join(EXAMPLES, 'demo-cert.pem'), 'utf8');
}

/** Options of {@link consentConfig}. */
export interface ConsentConfigOptions {
  readonly tokenUrl: string;
  readonly authorizeUrl: string;
  /** The broker's base URL; the redirectUri is its `/consent/callback`. */
  readonly brokerUrl: string;
  readonly clientSecret?: boolean;
  readonly pkce?: boolean;
  readonly stateKey?: string;
}

/** Loads a config with profiles `consent` (needs consent) and `plain` (no consent step). */
export async function consentConfig(options: ConsentConfigOptions): Promise<BrokerConfig> {
  const dir = await mkdtemp(join(tmpdir(), 'tb-consent-'));
  await writeFile(join(dir, 'client.secret'), CLIENT_SECRET);
  const key = (name: string): string => `
    certStore: file:${join(EXAMPLES, 'demo-keystore.jks')}
    certStoreType: jks
    certPassword: file:${join(EXAMPLES, 'demo-keystore.password')}
    certAlias: demo
    tokenUri: POST ${options.tokenUrl}
    audience: token-broker-test
    scope: read write
    callers: [local, "arn:aws:iam::123456789012:role/app"]
    subject: alice@example.com
    subjects: ['*@example.com']
    issuer: ${name}`;
  const yaml = `
profiles:
  consent:
    provider: generic${key(CLIENT_ID)}
    authUri: ${options.authorizeUrl}
    redirectUri: ${options.brokerUrl}/consent/callback
    consentErrors: [{ error: consent_required }]
    pkce: ${options.pkce ?? true}
${options.clientSecret === false ? '' : '    clientSecret: file:client.secret\n'}
  plain:
    provider: generic${key('plain-client')}
${options.stateKey ? `consent:\n  stateKey: plain:${options.stateKey}\n` : ''}`;
  const path = join(dir, 'token-broker.yaml');
  await writeFile(path, yaml);
  return loadConfig({ path, env: {}, cwd: dir });
}

/**
 * A free loopback port. The broker's redirectUri must name its port before it starts, so
 * the port is found first; another process taking it in between would fail the test loudly.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
