import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_LINE_CHARS, showEvents } from '../../lib/cli/events.ts';
import { main } from '../../lib/cli/main.ts';
import { parseConfig } from '../../lib/config/parse.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { createJsonLinesSink, parseEventLine } from '../../lib/events/json-lines.ts';
import type { BrokerEvent, DeliveredEvent } from '../../lib/events/schema.ts';
import { setupLocalEvents } from '../../lib/events/setup.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { noMetrics, silentLogger } from '../../lib/types.ts';
import { captureIo } from '../support/cli-io.ts';

const KEY_PATH = join(import.meta.dirname, '..', 'fixtures', 'keystores', 'pem-rsa2048-with-cert.pem');

let dir: string;
let authorization: AuthorizationServer;
let server: RunningServer;
let file: string;

function event(
  detailType: BrokerEvent['detailType'],
  profile: string,
  extra: Record<string, unknown> = {},
): BrokerEvent {
  return { detailType, detail: { schemaVersion: '1', profile, at: '2026-12-07T03:00:00.000Z', ...extra } };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'token-broker-events-'));
  file = join(dir, 'events.jsonl');
  authorization = await startAuthorizationServer({
    clients: [
      {
        clientId: 'app-client',
        certificatePem: await readFile(`${KEY_PATH}.cert.pem`, 'utf8'),
        requireConsent: true,
      },
    ],
  });
  const config = parseConfig(
    [
      'profiles:',
      '  app:',
      '    provider: generic',
      '    issuer: app-client',
      '    subject: alice@example.com',
      `    tokenUri: POST ${authorization.tokenUrl}`,
      `    certStore: file:${KEY_PATH}`,
      '    callers: [local]',
      '    notify: { subject: fingerprint }',
    ].join('\n'),
    join(dir, 'token-broker.yaml'),
  );
  const events = setupLocalEvents(
    'events.jsonl',
    { cwd: dir, stderr: () => undefined },
    {
      config,
      logger: silentLogger,
      metrics: noMetrics,
    },
  );
  server = await startServer({ config, port: 0, env: {}, events });
});
afterAll(async () => {
  await server?.close();
  await authorization?.close();
  await rm(dir, { recursive: true, force: true });
});

const tokenRequest = () =>
  fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ profile: 'app' }),
  });

describe('events of the local server as JSON lines', () => {
  it('writes Consent Required once, in the shape EventBridge delivers, with the subject as a fingerprint', async () => {
    for (let i = 0; i < 3; i += 1) expect((await tokenRequest()).status).toBe(409);
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(1);
    const delivered = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(delivered).sort()).toEqual([
      'account',
      'detail',
      'detail-type',
      'id',
      'region',
      'resources',
      'source',
      'time',
      'version',
    ]);
    expect(delivered).toMatchObject({
      version: '0',
      source: 'token-broker',
      'detail-type': 'Consent Required',
      region: 'local',
      resources: [],
      detail: { schemaVersion: '1', profile: 'app', code: 'ERR_CONSENT_REQUIRED' },
    });
    expect(delivered['time']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect((delivered['detail'] as Record<string, unknown>)['subjectFingerprint']).toMatch(/^[0-9a-f]{8}$/);
    expect(lines[0]).not.toContain('alice@example.com');
  });
});

describe('the JSON-lines sink', () => {
  it('writes one line per event to stderr with -', async () => {
    const written: string[] = [];
    const sink = createJsonLinesSink({ target: '-', stderr: { write: (line) => written.push(line) } });
    await sink.send(event('Key Rejected', 'a', { error: 'invalid_client' }));
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/\n$/);
    expect(parseEventLine(written[0]!)).toMatchObject({
      'detail-type': 'Key Rejected',
      detail: { profile: 'a' },
    });
  });

  it('keeps concurrent events on lines of their own', async () => {
    const target = join(dir, 'concurrent.jsonl');
    const sink = createJsonLinesSink({ target });
    await Promise.all(Array.from({ length: 50 }, (_, i) => sink.send(event('Consent Granted', `p${i}`))));
    const lines = (await readFile(target, 'utf8')).trim().split('\n');
    expect(lines.map((line) => parseEventLine(line)?.detail.profile).sort()).toEqual(
      Array.from({ length: 50 }, (_, i) => `p${i}`).sort(),
    );
  });
});

describe('token-broker events', () => {
  let listed: string;

  beforeAll(async () => {
    listed = join(dir, 'listed.jsonl');
    const sink = createJsonLinesSink({ target: listed });
    await sink.send(event('Token Refresh Failed', 'billing', { code: 'ERR_UPSTREAM_REJECTED', failures: 3 }));
    await sink.send(event('Key Rejected', 'sales', { error: 'invalid_client' }));
    await sink.send(event('Key Rejected', 'billing', { error: 'invalid_grant' }));
    await appendFile(listed, 'not json\n{"source":"someone-else","detail-type":"x","detail":{}}\n');
  });

  it('prints every broker event of the file, one line each', async () => {
    const { io, stdout } = captureIo();
    expect(await main(['events', '--file', listed], io)).toBe(0);
    expect(stdout().trim().split('\n')).toEqual([
      '2026-12-07T03:00:00Z  Token Refresh Failed  billing  code=ERR_UPSTREAM_REJECTED  failures=3',
      '2026-12-07T03:00:00Z  Key Rejected  sales  error=invalid_client',
      '2026-12-07T03:00:00Z  Key Rejected  billing  error=invalid_grant',
    ]);
  });

  it('filters by --profile and --type, and prints JSON lines with --json', async () => {
    const { io, stdout } = captureIo({ env: { TOKEN_BROKER_EVENTS_FILE: listed } });
    expect(await main(['events', '--profile', 'billing', '--type', 'key-rejected', '--json'], io)).toBe(0);
    const lines = stdout().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      'detail-type': 'Key Rejected',
      detail: { profile: 'billing' },
    });
  });

  it('reads a large file in chunks: a line split across them whole, a line past the limit skipped', async () => {
    const large = join(dir, 'large.jsonl');
    const sink = createJsonLinesSink({ target: large });
    // 90,000 bytes of two-byte characters: the line spans chunks, and one may split a character.
    const scope = 'é'.repeat(45_000);
    await sink.send(event('Consent Required', 'wide', { scope }));
    // An event too long to be one EventBridge takes: skipped, never held whole.
    await sink.send(event('Consent Required', 'overlong', { scope: 'x'.repeat(MAX_LINE_CHARS + 70_000) }));
    await sink.send(event('Key Rejected', 'after-overlong', { error: 'invalid_client' }));
    // The last line without its newline is still an event.
    await appendFile(
      large,
      JSON.stringify({
        source: 'token-broker',
        'detail-type': 'Consent Granted',
        time: 't',
        detail: { profile: 'last', at: 't' },
      }),
    );
    const { io, stdout } = captureIo();
    expect(await main(['events', '--file', large, '--json'], io)).toBe(0);
    const printed = stdout()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as DeliveredEvent);
    expect(printed.map((e) => e.detail.profile)).toEqual(['wide', 'after-overlong', 'last']);
    expect(printed[0]?.detail.scope).toBe(scope);
  });

  it('refuses a file that is not there with what to do, exit 2', async () => {
    const { io, stderr } = captureIo();
    expect(await main(['events', '--file', join(dir, 'missing.jsonl')], io)).toBe(2);
    expect(stderr()).toContain('no events file at');
    expect(stderr()).toContain('--events');
  });

  it('prints its flags and an example with --help', async () => {
    const { io, stdout } = captureIo();
    expect(await main(['events', '--help'], io)).toBe(0);
    for (const flag of ['--file', '--follow', '--profile', '--type', '--json'])
      expect(stdout()).toContain(flag);
    expect(stdout()).toContain('npx token-broker events');
  });

  it('with --follow prints the lines written after it started, until stopped', async () => {
    const followed = join(dir, 'followed.jsonl');
    await writeFile(followed, '');
    const { io, stdout } = captureIo();
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const running = showEvents(
      {
        file: followed,
        follow: true,
        filter: { profile: 'billing' },
        json: false,
        stop: stopped,
        pollMs: 10,
      },
      io,
    );
    const sink = createJsonLinesSink({ target: followed });
    await sink.send(event('Consent Required', 'billing'));
    await sink.send(event('Consent Required', 'sales'));
    // Half a line now, the rest later: printed once whole.
    const last = JSON.stringify({
      version: '0',
      source: 'token-broker',
      'detail-type': 'Consent Granted',
      time: 't',
      detail: { schemaVersion: '1', profile: 'billing', at: 't' },
    });
    await appendFile(followed, last.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await appendFile(followed, `${last.slice(20)}\n`);
    for (let i = 0; i < 100 && stdout().split('\n').length < 3; i += 1)
      await new Promise((resolve) => setTimeout(resolve, 10));
    stop();
    await running;
    expect(stdout().trim().split('\n')).toEqual([
      '2026-12-07T03:00:00Z  Consent Required  billing',
      't  Consent Granted  billing',
    ]);
  });
});
