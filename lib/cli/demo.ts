/**
 * `token-broker demo [--port N] [--host H] [--auth-port N] [--config F]` (what `npm start`
 * runs): the local authorization server plus the broker on the demo config, then a ready
 * `curl` line. No AWS account or credentials are involved.
 *
 * How the two meet: the demo config's `tokenUri` names 127.0.0.1:8788, the authorization
 * server's default port here. `demo` registers each profile's `issuer` as a client that
 * verifies with the profile's own key (its certificate, else its public key, opened from the
 * profile's secrets), starts the server (on `--auth-port`, 0 for any free port) and points
 * every profile of the config at its token URL. The profiles' `audience` is a literal the
 * server is told to accept, so it needs no rewrite. Any `--config` works so: nothing needs
 * to sit beside it.
 *
 * A profile with `webIdentity` would ask AWS STS for its JWT, which the demo does not do:
 * a keyless one (`certStore: aws:web-identity`) is left out, a keystore-fallback one is
 * served with its key, each with one line on stderr pointing at `npm run rehearse`, which
 * runs them against a loopback STS.
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/index.ts';
import type { BrokerConfig, Profile } from '../config/types.ts';
import { KeyMaterialCache } from '../signer/key-material.ts';
import { startAuthorizationServer } from '../dev/authorization-server.ts';
import { verifierOf, type Verifier } from '../dev/verifier.ts';
import { BrokerError } from '../errors.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { isKmsReference } from '../signer/kms-reference.ts';
import { isKeyless } from '../config/keyless.ts';
import { consentClientFields, consentProfiles, pointConsentAt } from '../dev/consent-demo.ts';
import { createSecretResolver } from '../secrets/index.ts';
import { createJsonLogger } from '../observability/json-logger.ts';
import { setupLocalEvents } from '../events/setup.ts';
import { noMetrics } from '../types.ts';
import { DEFAULT_HOST, DEFAULT_PORT, startServer } from '../server/index.ts';
import { listenError } from '../server/listen-error.ts';
import { EXIT_OK, type CliIo } from './io.ts';
import { defineCommand, parseCliArgs } from './args.ts';
import { parsePort, untilSignal } from './serve.ts';

/** The demo config shipped in the repository. */
const DEMO_CONFIG = fileURLToPath(new URL('../../examples/local/token-broker.yaml', import.meta.url));
/** Default port of the demo's authorization server (the one the demo config names). */
const DEFAULT_AUTH_PORT = 8788;

/** `config` with every profile's token endpoint replaced by `tokenUrl` (POST). */
function pointProfilesAt(config: BrokerConfig, tokenUrl: string): BrokerConfig {
  const profiles: Record<string, Profile> = {};
  for (const [name, profile] of Object.entries(config.profiles)) {
    profiles[name] = Object.freeze({
      ...profile,
      tokenUri: Object.freeze({ method: 'POST' as const, url: tokenUrl }),
    });
  }
  return Object.freeze({ ...config, profiles: Object.freeze(profiles) });
}

/**
 * `config` without what would call AWS STS: keyless profiles left out, a keystore-fallback
 * profile's `webIdentity` dropped (its key signs), one stderr line each.
 */
export function withoutWebIdentity(config: BrokerConfig, io: Pick<CliIo, 'stderr'>): BrokerConfig {
  const profiles: Record<string, Profile> = {};
  for (const [name, profile] of Object.entries(config.profiles)) {
    if (profile.webIdentity === undefined) {
      profiles[name] = profile;
    } else if (isKeyless(profile.certStore)) {
      io.stderr(
        `token-broker demo: profile ${name}: left out, its web identity JWT comes from AWS STS, which the demo does not call; npm run rehearse -- --profiles F runs it against a loopback STS\n`,
      );
    } else {
      const { webIdentity: _dropped, ...keyed } = profile;
      profiles[name] = Object.freeze(keyed);
      io.stderr(
        `token-broker demo: profile ${name}: served with its keystore key (webIdentity.fallback), not its web identity JWT from AWS STS; npm run rehearse -- --profiles F runs that path against a loopback STS\n`,
      );
    }
  }
  return Object.freeze({ ...config, profiles: Object.freeze(profiles) });
}

/**
 * How the authorization server verifies each issuer's assertions: the certificate of the
 * profile's key, else its public key. A profile whose key does not open here (or is held in
 * KMS) is left out with one line on stderr; its requests then fail at the server.
 */
async function verificationKeys(
  config: BrokerConfig,
  secrets: SecretResolver,
  io: CliIo,
): Promise<Map<string, Verifier>> {
  const keys = new KeyMaterialCache({
    secrets,
    openKeystore: async () => (await import('../keystore/index.ts')).openKeystore,
  });
  const out = new Map<string, Verifier>();
  for (const profile of Object.values(config.profiles)) {
    if (out.has(profile.issuer)) continue;
    if (isKmsReference(profile.certStore)) {
      io.stderr(
        `token-broker demo: profile ${profile.name}: a KMS-held key is not verified by the demo server\n`,
      );
      continue;
    }
    try {
      out.set(profile.issuer, await verifierOf(profile, keys));
    } catch (err) {
      const code = err instanceof BrokerError ? err.code : 'ERR_INTERNAL';
      io.stderr(
        `token-broker demo: profile ${profile.name}: its key does not open (${code}); run token-broker check\n`,
      );
    }
  }
  return out;
}

/** The curl command that asks the demo broker for a token. */
function curlLine(brokerUrl: string, profile: string): string {
  return `curl -s -X POST ${brokerUrl}/token -H 'Content-Type: application/json' -d '{"profile":"${profile}"}'`;
}

/** The repository folder: `token-broker/client` resolves from files inside it. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Three lines that ask the demo broker for a token with `token-broker/client`. The client
 * signs every request with SigV4; the demo, with no `server.sigv4`, takes a loopback caller
 * as `local` whatever it signed with, so fixed demo credentials do (no AWS account).
 */
function clientLines(brokerUrl: string, profile: string): string[] {
  return [
    "import { TokenBrokerClient } from 'token-broker/client';",
    `const broker = new TokenBrokerClient({ endpoint: '${brokerUrl}', region: 'us-east-1', credentials: async () => ({ accessKeyId: 'AKIDLOCALTEST0001', secretAccessKey: 'demo' }) });`,
    `console.log(await broker.getToken({ profile: '${profile}' }));`,
  ];
}

/** `token-broker demo`: usage, flags and example (`--help`); its flags are the parser's options. */
export const DEMO_COMMAND = defineCommand({
  name: 'demo',
  usage: 'demo [--config F] [--port N] [--host H] [--auth-port N] [--events F]',
  description:
    'What npm start runs: a local authorization server and the broker, pointed at each other, then a\ncurl line and three token-broker/client lines that get a token. No AWS account is involved.',
  flags: {
    config: {
      type: 'string',
      value: 'F',
      help: 'a profiles file instead of examples/local/token-broker.yaml (each profile is verified with its own key)',
    },
    port: { type: 'string', value: 'N', help: "the broker's port (default 8787; 0 picks a free one)" },
    host: { type: 'string', value: 'H', help: "the broker's address (default 127.0.0.1)" },
    'auth-port': {
      type: 'string',
      value: 'N',
      help: "the authorization server's port on 127.0.0.1 (default 8788; 0 picks a free one)",
    },
    events: {
      type: 'string',
      value: 'F',
      help: "append the profiles' events to F as JSON lines, - for stderr (default: $TOKEN_BROKER_EVENTS_FILE)",
    },
  },
  example: 'npx token-broker demo --port 0 --auth-port 0',
});

/**
 * Runs the demo until SIGINT/SIGTERM.
 * @throws UsageError for bad flags; ConfigError ERR_CONFIG_NOT_FOUND, ERR_CONFIG
 */
export async function demo(argv: readonly string[], io: CliIo): Promise<number> {
  const { values: args } = parseCliArgs(argv, DEMO_COMMAND.flags, { positionals: false });
  const port = parsePort(args.port, DEFAULT_PORT);
  const authPort = parsePort(args['auth-port'], DEFAULT_AUTH_PORT, '--auth-port');
  const host = args.host ?? DEFAULT_HOST;
  const loaded = withoutWebIdentity(
    await loadConfig({ path: args.config ?? DEMO_CONFIG, env: io.env, cwd: io.cwd }),
    io,
  );
  const secrets = createSecretResolver({ env: io.env, cwd: dirname(loaded.source) });
  const verifiers = await verificationKeys(loaded, secrets, io);
  const audiences = new Set<string>(['token-url']);
  for (const profile of Object.values(loaded.profiles)) {
    for (const aud of [profile.audience].flat()) audiences.add(aud);
  }
  // Consent redirects come back to the broker, so its URL must be known before it starts.
  const brokerUrl = port === 0 ? undefined : `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const authorizeUrl = `http://127.0.0.1:${authPort}/authorize`;
  const consentFields = await consentClientFields(pointConsentAt(loaded, authorizeUrl, brokerUrl), secrets);
  const authorization = await startAuthorizationServer({
    port: authPort,
    host: '127.0.0.1',
    clients: [...verifiers].map(([clientId, verifier]) => ({
      clientId,
      ...verifier,
      ...consentFields.get(clientId),
    })),
    audience: [...audiences],
  }).catch((err: unknown) => {
    // A busy --auth-port is one line, as serve's --port is.
    throw listenError(err, '127.0.0.1', authPort, '--auth-port');
  });
  const config = pointConsentAt(
    pointProfilesAt(loaded, authorization.tokenUrl),
    authorization.authorizeUrl,
    brokerUrl,
  );
  const logger = createJsonLogger({ write: io.stderr });
  let broker;
  try {
    const events = setupLocalEvents(
      args.events ?? io.env['TOKEN_BROKER_EVENTS_FILE'],
      { cwd: io.cwd, stderr: io.stderr },
      { config, logger, metrics: noMetrics },
    );
    broker = await startServer({ config, port, host, env: io.env, logger, events });
  } catch (err) {
    await authorization.close();
    throw err;
  }
  const first = Object.keys(config.profiles)[0] ?? 'demo';
  io.stdout(
    [
      'token-broker demo',
      `  authorization server  ${authorization.url}  (verifies RFC 7523 assertions with each profile's own certificate)`,
      `  broker                ${broker.url}  (config ${loaded.source})`,
      '',
      'Get a token (logs are JSON lines on stderr; Ctrl-C stops both servers):',
      `  ${curlLine(broker.url, first)}`,
      '',
      `Or with token-broker/client: save these three lines as try.mts in ${PACKAGE_ROOT} and run npx tsx try.mts`,
      ...clientLines(broker.url, first).map((line) => `  ${line}`),
      '',
      ...consentProfiles(config).flatMap((p) => [
        `Try the consent flow with profile "${p.name}" (the provider wants the user's consent first):`,
        `  ${curlLine(broker.url, p.name)}`,
        '  answers 409 consent_required with a consent_url; open that URL in a browser, type the subject',
        `  (${p.subject ?? 'the subject'}) and Approve; the page says "Consent recorded"; the curl then returns a token.`,
        '',
      ]),
    ].join('\n'),
  );
  const signal = await untilSignal();
  await broker.shutdown();
  await authorization.close();
  io.stdout(`token-broker: stopped (${signal})\n`);
  return EXIT_OK;
}
