/**
 * A broker wired to real parts for the hardening suite: profiles parsed from YAML, keys
 * read from the keystore fixtures through `file:` references, and the development
 * authorization server (or a scripted endpoint) on 127.0.0.1.
 */
import { readFileSync } from 'node:fs';
import { createBroker, type BrokerDeps, type TokenBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import {
  startAuthorizationServer,
  type AuthorizationServer,
  type DevClient,
} from '../../lib/dev/authorization-server.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import type { SecretResolver } from '../../lib/secrets/types.ts';
import { fixturePath, KEYSTORE_FIXTURES } from './support.ts';

/** The key every harness profile signs with: an openssl EC P-256 key (cheap to open). */
export const KEY_FILE = 'pem-ec256-pkcs8.pem';
export const CERT_FILE = 'pem-ec256-pkcs8.pem.cert.pem';

/** The certificate the authorization server verifies harness assertions with. */
export function harnessCertificate(): string {
  return readFileSync(fixturePath(CERT_FILE), 'utf8');
}

/** Options of one profile in {@link profileYaml}. */
export interface ProfileSpec {
  readonly issuer: string;
  readonly tokenUrl: string;
  readonly subject?: string;
  readonly subjects?: readonly string[];
  readonly scope?: string;
  readonly callers?: readonly string[];
  readonly certStore?: string;
  readonly certPassword?: string;
  readonly extra?: Readonly<Record<string, string>>;
}

/** One profile as YAML lines under `profiles:`. */
export function profileYaml(name: string, spec: ProfileSpec): string {
  const lines = [
    `  ${name}:`,
    `    issuer: ${JSON.stringify(spec.issuer)}`,
    `    tokenUri: ${JSON.stringify(spec.tokenUrl)}`,
    `    certStore: ${JSON.stringify(spec.certStore ?? `file:${fixturePath(KEY_FILE)}`)}`,
  ];
  if (spec.certPassword !== undefined) lines.push(`    certPassword: ${JSON.stringify(spec.certPassword)}`);
  if (spec.subject !== undefined) lines.push(`    subject: ${JSON.stringify(spec.subject)}`);
  if (spec.subjects !== undefined) lines.push(`    subjects: ${JSON.stringify(spec.subjects)}`);
  if (spec.scope !== undefined) lines.push(`    scope: ${JSON.stringify(spec.scope)}`);
  if (spec.callers !== undefined) lines.push(`    callers: ${JSON.stringify(spec.callers)}`);
  for (const [key, value] of Object.entries(spec.extra ?? {})) lines.push(`    ${key}: ${value}`);
  return lines.join('\n') + '\n';
}

/** A validated configuration of the given profiles (and top-level YAML). */
export function harnessConfig(profiles: Readonly<Record<string, ProfileSpec>>, top = ''): BrokerConfig {
  const text =
    'profiles:\n' +
    Object.entries(profiles)
      .map(([name, spec]) => profileYaml(name, spec))
      .join('') +
    top;
  return parseConfig(text, `${KEYSTORE_FIXTURES}/hardening.yaml`);
}

/** A secret resolver over `env`, relative files from the fixtures folder. */
export function harnessSecrets(env: Readonly<Record<string, string>> = {}): SecretResolver {
  return createSecretResolver({ env, cwd: KEYSTORE_FIXTURES });
}

/** A broker over `config` that answers at once: no waits between retries, short timeouts. */
export function harnessBroker(
  config: BrokerConfig,
  deps: Partial<Omit<BrokerDeps, 'config'>> = {},
): TokenBroker {
  return createBroker({
    config,
    secrets: deps.secrets ?? harnessSecrets(),
    random: () => 0.5,
    ...deps,
    exchange: { attemptTimeoutMs: 2_000, deadlineMs: 4_000, sleep: async () => undefined, ...deps.exchange },
  });
}

/** The development authorization server with the given clients, all verified with the harness key. */
export function startDevServer(
  clients: readonly Omit<DevClient, 'certificatePem'>[],
  options: { tokenTtl?: number } = {},
): Promise<AuthorizationServer> {
  const certificatePem = harnessCertificate();
  return startAuthorizationServer({
    clients: clients.map((client) => ({ ...client, certificatePem })),
    ...options,
  });
}

/** A fetch that records every request body and URL before sending it for real. */
export function recordingFetch(into: string[]): typeof fetch {
  return async (input, init) => {
    into.push(String(input));
    if (typeof init?.body === 'string') into.push(init.body);
    return fetch(input, init);
  };
}
