/**
 * Issue 26, item 2: a provider that repeats the secrets it was sent (a `params`
 * client_secret and a secret header, resolved from `env:`) in its `error` and
 * `error_description` — as sent, base64, percent- and form-encoded, cut short, wrapped over
 * lines — reaches neither the caller's 502 body nor the ERROR log line, through the POST
 * /token handler and through the local server.
 */
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { parseConfig } from '../../lib/config/index.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import type { LogFields, Logger } from '../../lib/types.ts';
import { startFaultServer, type FaultServer } from '../support/fault-server.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { EXAMPLES } from '../functions/harness.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';
/** The params client secret: URL- and base64-unsafe characters on purpose. */
const CLIENT_SECRET = 'cs/3f9a+7b2e=41d8 c6a0&5e7f~Zq';
/** The secret header's value. */
const HEADER_SECRET = 'hk_9d2c4e6f8a0b1c3d5e7f9a1b2c';
const env = { CLIENT_SECRET, HEADER_SECRET };

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const form = (text: string) => new URLSearchParams({ v: text }).toString().slice(2);
/** Every form in which the test's provider repeats a value. */
function echoes(value: string): Record<string, string> {
  return {
    raw: value,
    base64: b64(value),
    base64url: Buffer.from(value, 'utf8').toString('base64url'),
    percent: encodeURIComponent(value),
    form: form(value),
    cut: `${value.slice(0, 14)}…`,
    wrapped: `${value.slice(0, 9)}\n  ${value.slice(9, 20)}\r\n${value.slice(20)}`,
  };
}

/** What the scan looks for: each value, its encodings, and every 12-character piece of each. */
function leaks(text: string): string[] {
  const found: string[] = [];
  for (const [name, value] of [
    ['client secret', CLIENT_SECRET],
    ['header secret', HEADER_SECRET],
  ] as const) {
    const forms = [value, b64(value), encodeURIComponent(value), form(value)];
    forms.push(Buffer.from(value, 'utf8').toString('base64url'), b64(`demo-client:${value}`).slice(16, -4));
    for (const f of forms)
      for (let i = 0; i + 12 <= f.length; i += 1)
        if (text.includes(f.slice(i, i + 12))) found.push(`${name}: ${i}-${i + 12} of a form`);
  }
  return found;
}

const lines: { level: string; message: string; fields: LogFields | undefined }[] = [];
const logger: Logger = {
  debug: () => undefined,
  info: (message, fields) => lines.push({ level: 'info', message, fields }),
  warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
  error: (message, fields) => lines.push({ level: 'error', message, fields }),
};

/** Answers `status` repeating the secrets it received, in the forms `which` names. */
const echoing =
  (status: number, which: readonly string[]) => (req: IncomingMessage, res: ServerResponse, body: string) => {
    const sentSecret = new URLSearchParams(body).get('client_secret') ?? '';
    const sentHeader = String(req.headers['x-api-key'] ?? '');
    const a = echoes(sentSecret);
    const h = echoes(sentHeader);
    const description = which.map((f) => `${f}: client_secret=${a[f]} key=${h[f]}`).join('; ');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: `invalid_client ${a['raw']}`, error_description: description }));
  };

let upstream: FaultServer;
let config: BrokerConfig;
let handler: ReturnType<typeof createTokenHandler>;
let server: RunningServer;

beforeAll(async () => {
  upstream = await startFaultServer([echoing(401, ['raw'])]);
  config = parseConfig(
    `
profiles:
  echo:
    issuer: demo-client
    subject: demo-user@example.com
    audience: token-broker-demo
    tokenUri: ${upstream.url}
    certStore: file:demo-keystore.jks
    certStoreType: jks
    certPassword: file:demo-keystore.password
    certAlias: demo
    params: { client_secret: "env:CLIENT_SECRET" }
    headers: { X-Api-Key: "env:HEADER_SECRET" }
    callers: [${ALICE}, local]
`,
    join(EXAMPLES, 'echo.yaml'),
  );
  const broker = createBroker({
    config,
    secrets: createSecretResolver({ env, cwd: EXAMPLES }),
    logger,
    exchange: { sleep: async () => undefined },
  });
  handler = createTokenHandler({ broker, logger });
  server = await startServer({ config, env, logger, port: 0 });
});
afterAll(async () => {
  await server?.close();
  await upstream?.close();
});
beforeEach(() => {
  lines.length = 0;
});

const viaHandler = async () => {
  const result = await handler(
    apiEvent({ body: JSON.stringify({ profile: 'echo' }), userArn: ALICE }),
    lambdaContext(),
  );
  return { status: result.statusCode, text: result.body };
};
const viaServer = async () => {
  const res = await fetch(`${server.url}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ profile: 'echo' }),
  });
  return { status: res.status, text: await res.text() };
};

describe('secrets a provider repeats in its error', () => {
  it('sends both secrets resolved (what the provider has to repeat)', async () => {
    upstream.answer(echoing(401, ['raw']));
    await viaHandler();
    const sent = upstream.bodies.at(-1)!;
    expect(new URLSearchParams(sent).get('client_secret')).toBe(CLIENT_SECRET);
    expect(upstream.headers.at(-1)!['x-api-key']).toBe(HEADER_SECRET);
  });

  it.each([
    [401, ['raw', 'base64']],
    [400, ['base64url', 'percent', 'form']],
    [401, ['cut', 'wrapped']],
    [400, ['wrapped', 'raw', 'percent']],
  ])('HTTP %i repeating %j: redacted from the 502 body and the ERROR line', async (status, which) => {
    upstream.answer(echoing(status, which));
    for (const ask of [viaHandler, viaServer]) {
      lines.length = 0;
      const answer = await ask();
      expect(answer.status).toBe(502);
      const body = JSON.parse(answer.text) as Record<string, string>;
      expect(body['error']).toBe('upstream_rejected');
      expect(body['provider_error']).toBe('invalid_client [redacted]');
      expect(body['error_description']).toMatch(/^\w+: client_secret=\[redacted\]/);
      expect(body['error_description']!.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(2);
      const error = lines.find((l) => l.level === 'error');
      expect(error?.fields).toMatchObject({ code: 'ERR_UPSTREAM_REJECTED', status: 502 });
      expect(leaks(answer.text)).toEqual([]);
      expect(leaks(JSON.stringify(lines))).toEqual([]);
    }
  });
});
