import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBroker, type TokenBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { Logger, Metrics } from '../../lib/types.ts';

/** The demo's keytool-made JKS and certificate, resolved through `file:` references. */
export const EXAMPLES = fileURLToPath(new URL('../../examples/local/', import.meta.url));
export const CERTIFICATE = readFileSync(join(EXAMPLES, 'demo-cert.pem'), 'utf8');
export const CONSENT_BASE = 'https://broker.example.com/consent';

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const key = `
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: demo
    audience: token-broker-demo`;

/** The test profiles, all signing with the demo JKS. */
export function testConfigText(tokenUrl: string, downUrl: string, extra = ''): string {
  return `
profiles:
  billing:
    issuer: demo-client
    subject: demo-user@example.com
    subjects: ['*@example.com']
    tokenUri: ${tokenUrl}
    scope: read write${key}
    callers:
      - arn:aws:iam::123456789012:role/billing-*
      - arn:aws:iam::123456789012:user/alice
      - local
      - team-billing
  consent:
    issuer: consent-client
    subject: jsmith@example.com
    tokenUri: ${tokenUrl}${key}
    consentErrors: [{ error: consent_required }]
    callers: [arn:aws:iam::123456789012:user/alice]
  down:
    issuer: demo-client
    subject: demo-user@example.com
    tokenUri: ${downUrl}${key}
    callers: [arn:aws:iam::123456789012:user/alice]
${extra}`;
}

/** A real broker over the demo JKS and a strict local RFC 7523 authorization server. */
export interface Harness {
  readonly authorization: AuthorizationServer;
  readonly config: BrokerConfig;
  readonly broker: TokenBroker;
  close(): Promise<void>;
}

/** Starts the authorization server and builds the broker (retries without waiting). */
export async function startHarness(
  options: { logger?: Logger; metrics?: Metrics; extraConfig?: string } = {},
): Promise<Harness> {
  const authorization = await startAuthorizationServer({
    clients: [
      {
        clientId: 'demo-client',
        certificatePem: CERTIFICATE,
        subjects: ['demo-user@example.com', 'ops@example.com'],
      },
      { clientId: 'consent-client', certificatePem: CERTIFICATE, requireConsent: true },
    ],
    audience: ['token-broker-demo'],
  });
  const down = `http://127.0.0.1:${await closedPort()}/token`;
  const config = parseConfig(
    testConfigText(authorization.tokenUrl, down, options.extraConfig),
    join(EXAMPLES, 'test.yaml'),
  );
  const broker = createBroker({
    config,
    secrets: createSecretResolver({ env: {}, cwd: EXAMPLES }),
    logger: options.logger,
    metrics: options.metrics,
    consentUrl: (profile, subject) => `${CONSENT_BASE}/${profile}?subject=${encodeURIComponent(subject)}`,
    exchange: { sleep: async () => undefined, attemptTimeoutMs: 2000 },
  });
  return { authorization, config, broker, close: () => authorization.close() };
}
