import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_MESSAGE } from '../../lib/broker/audit.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { startHarness, type Harness } from '../functions/harness.ts';

/** Every line the broker and the server log, in order. */
const lines: { level: string; message: string; fields: LogFields | undefined }[] = [];
const logger: Logger = Object.fromEntries(
  (['debug', 'info', 'warn', 'error'] as const).map((level) => [
    level,
    (message: string, fields?: LogFields) => lines.push({ level, message, fields }),
  ]),
) as unknown as Logger;

let harness: Harness;
let quiet: RunningServer;
let logged: RunningServer;

beforeAll(async () => {
  harness = await startHarness({ logger });
  quiet = await startServer({
    config: harness.config,
    broker: harness.broker,
    port: 0,
    logger,
    accessLog: false,
  });
  logged = await startServer({ config: harness.config, broker: harness.broker, port: 0, logger });
});
afterAll(async () => {
  await quiet?.close();
  await logged?.close();
  await harness?.close();
});

/** The lines one request to `base` writes (debug lines aside). */
async function linesOf(base: string, path: string, body?: unknown): Promise<string[]> {
  lines.length = 0;
  const response = await fetch(`${base}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  await response.arrayBuffer();
  return lines.filter((l) => l.level !== 'debug').map((l) => l.message);
}

describe('local server access log', () => {
  it('writes one line for a token hit without an access log: the audit line', async () => {
    await linesOf(quiet.url, '/token', { profile: 'billing' });
    harness.authorization.resetRequests();
    expect(await linesOf(quiet.url, '/token', { profile: 'billing' })).toEqual([AUDIT_MESSAGE]);
    expect(harness.authorization.requestCount()).toBe(0);
  });

  it('writes the request line beside the audit line when the access log is on (the default)', async () => {
    expect(await linesOf(logged.url, '/token', { profile: 'billing' })).toEqual([AUDIT_MESSAGE, 'request']);
    const access = lines.find((l) => l.message === 'request')!.fields;
    expect(access).toMatchObject({ method: 'POST', route: 'POST /token', status: 200, caller: 'local' });
  });

  it('still says why for a request matching no route, with or without an access log', async () => {
    expect(await linesOf(quiet.url, '/nope')).toEqual(['request']);
    expect(lines.at(-1)!.fields).toMatchObject({ path: '/nope', status: 404 });
  });
});
