/**
 * One broker instance with events, in its own OS process, for the cross-instance events
 * test. Run with `node --import tsx` through `child_process.fork`; options come as JSON in
 * argv[2]. The broker shares the DynamoDB table (dynalite) with the other instances and
 * puts its events on EventBridge through the SDK, whose endpoint comes from
 * `AWS_ENDPOINT_URL_EVENTBRIDGE`, as in a Lambda function.
 *
 * Protocol (IPC): `{ type: 'ready' }` once built; `{ type: 'refresh' }` runs the scheduled
 * refresh, `{ type: 'certificates' }` its certificate step, `{ type: 'issue', profile }` one
 * token request, `{ type: 'granted', profile, subject }` the consent callback's event; each
 * is answered `{ type: 'done', result }`.
 */
import { createBroker } from '../../lib/broker/index.ts';
import { createSharedStore } from '../../lib/cache/shared-store-factory.ts';
import { parseConfig } from '../../lib/config/index.ts';
import { consentUrlBuilder } from '../../lib/consent/base-url.ts';
import { isBrokerError } from '../../lib/errors.ts';
import { setupEvents } from '../../lib/events/setup.ts';
import { reportCertificateDays } from '../../lib/refresh/certificate-days.ts';
import { runScheduledRefresh } from '../../lib/refresh/refresh.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { noMetrics, type Logger } from '../../lib/types.ts';

/** What the parent passes in argv[2]. */
export interface EventsWorkerOptions {
  readonly tokenUrl: string;
  readonly dynamoEndpoint: string;
  readonly table: string;
  readonly sealKeyHex: string;
  /** Absolute path of the PEM private key with its certificate. */
  readonly keyPath: string;
}

/** A command of the parent. */
export type EventsWorkerCommand =
  | { readonly type: 'refresh' }
  | { readonly type: 'certificates' }
  | { readonly type: 'issue'; readonly profile: string }
  | { readonly type: 'granted'; readonly profile: string; readonly subject: string };

/** What the worker answers. */
export type EventsWorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly result: unknown; readonly warnings: readonly string[] }
  | { readonly type: 'failed'; readonly message: string };

export const CALLER = 'arn:aws:iam::123456789012:role/events-fleet';

function configYaml(options: EventsWorkerOptions): string {
  const profile = (name: string, subject: string, extra: string[]) => [
    `  ${name}:`,
    '    provider: generic',
    `    issuer: ${name}-client`,
    `    subject: ${subject}`,
    `    tokenUri: POST ${options.tokenUrl}`,
    '    audience: events-fleet',
    `    certStore: file:${options.keyPath}`,
    `    callers: ["${CALLER}"]`,
    ...extra,
  ];
  return [
    'profiles:',
    ...profile('nightly', 'alice@example.com', [
      '    refresh: { subjects: [alice@example.com] }',
      '    notify: { refreshFailures: 3, certificateDays: [5000, 30] }',
    ]),
    ...profile('consenting', 'bob@example.com', [
      '    authUri: https://auth.example.com:443/authorize',
      '    redirectUri: https://broker.example.com:443/consent/callback',
    ]),
    ...profile('refused', 'carol@example.com', []),
    'cache:',
    '  store: dynamodb',
    `  table: ${options.table}`,
    `  endpoint: ${options.dynamoEndpoint}`,
    '  region: eu-west-1',
    '  sealKey: env:SEAL_KEY',
    '',
  ].join('\n');
}

function send(message: EventsWorkerMessage): void {
  process.send!(message);
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2]!) as EventsWorkerOptions;
  const warnings: string[] = [];
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (message) => void warnings.push(message),
    error: (message) => void warnings.push(message),
  };
  const config = parseConfig(configYaml(options), 'events-worker.yaml');
  const secrets = createSecretResolver({ env: { SEAL_KEY: options.sealKeyHex }, cwd: process.cwd() });
  const sharedStore = await createSharedStore(config.cache, { secrets, logger });
  // The runtime's own choice: a bus set means EventBridge, the state in the cache table.
  const events = setupEvents(
    { bus: 'team-bus', region: 'eu-west-1' },
    { config, logger, metrics: noMetrics },
  )!;
  const broker = createBroker({
    config,
    secrets,
    sharedStore,
    logger,
    events,
    consentUrl: consentUrlBuilder(config),
    backgroundWork: false,
  });

  const run = async (command: EventsWorkerCommand): Promise<unknown> => {
    switch (command.type) {
      case 'refresh': {
        const now = Date.now();
        return runScheduledRefresh(
          { config, broker, sharedStore, clock: Date.now, logger, metrics: noMetrics, events },
          { startBy: now + 20_000, finishBy: now + 25_000 },
        );
      }
      case 'certificates':
        return reportCertificateDays({
          config,
          certificateExpiry: (profile) => broker.certificateExpiry(profile),
          metrics: noMetrics,
          logger,
          now: Date.now(),
          events,
        });
      case 'issue':
        try {
          const issued = await broker.issue({
            profile: command.profile,
            caller: { id: CALLER, kind: 'iam' },
          });
          return { cached: issued.cached };
        } catch (error) {
          return { code: isBrokerError(error) ? error.code : String(error) };
        }
      case 'granted':
        await events.consentGranted({ profile: command.profile, subject: command.subject });
        return {};
    }
  };

  process.on('message', (command: EventsWorkerCommand) => {
    void run(command).then(
      (result) => send({ type: 'done', result, warnings: warnings.splice(0) }),
      (error: unknown) => send({ type: 'failed', message: String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

main().catch((error: unknown) => {
  send({
    type: 'failed',
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  process.exit(1);
});
