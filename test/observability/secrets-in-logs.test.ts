import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import { createJsonLogger } from '../../lib/observability/json-logger.ts';
import { createPowertoolsLogger, createPowertoolsMetrics } from '../../lib/observability/powertools.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';
import { EXAMPLES, startHarness, type Harness } from '../functions/harness.ts';

const PASSWORD = readFileSync(join(EXAMPLES, 'demo-keystore.password'), 'utf8').trim();
const ALICE = 'arn:aws:iam::123456789012:user/alice';

let harness: Harness;
const written: string[] = [];
const assertions: string[] = [];
const tokens: string[] = [];
let privateKeyPem: string;

// Everything any logger or metrics sink writes, whichever stream or console it uses.
const capture = (chunk: unknown): boolean => {
  written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
  return true;
};

beforeAll(async () => {
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, method).mockImplementation(
      (...args: unknown[]) => void capture(args.map(String).join(' ')),
    );
  }
  harness = await startHarness();
  const key = await openKeystore(readFileSync(join(EXAMPLES, 'demo-keystore.jks')), {
    password: PASSWORD,
    alias: 'demo',
  });
  privateKeyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
});
afterAll(async () => {
  vi.restoreAllMocks();
  await harness.close();
});

/** A fetch that remembers every assertion the broker sends. */
const recordingFetch: typeof fetch = async (input, init) => {
  const body =
    typeof init?.body === 'string'
      ? init.body
      : init?.body instanceof URLSearchParams
        ? init.body.toString()
        : '';
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  for (const source of [body, new URL(url).search.slice(1)]) {
    const assertion = new URLSearchParams(source).get('assertion');
    if (assertion) assertions.push(assertion);
  }
  return fetch(input, init);
};

describe('log output of the token path', () => {
  it('never contains the keystore password, the private key, an assertion or an access token', async () => {
    const loggers = [
      createPowertoolsLogger({ logLevel: 'DEBUG' }),
      createJsonLogger({ write: (line) => void process.stderr.write(line), level: 'DEBUG' }),
    ];
    for (const logger of loggers) {
      const metrics = createPowertoolsMetrics();
      const broker = createBroker({
        config: harness.config,
        secrets: createSecretResolver({ env: {}, cwd: EXAMPLES }),
        logger,
        metrics,
        fetch: recordingFetch,
        consentUrl: (profile) => `https://broker.example.com/consent/${profile}`,
        exchange: { sleep: async () => undefined, attemptTimeoutMs: 2000 },
      });
      const handler = createTokenHandler({ broker, logger, metrics });
      const bodies = [
        { profile: 'billing' },
        { profile: 'billing' }, // cache hit
        { profile: 'billing', subject: 'stranger@example.com' }, // upstream rejects
        { profile: 'consent' }, // consent required
        { profile: 'down' }, // upstream down
        { profile: 'nope' },
        { profile: 'billing', subject: 'mallory@evil.example' },
      ];
      const statuses: number[] = [];
      for (const body of bodies) {
        const res = await handler(apiEvent({ body: JSON.stringify(body), userArn: ALICE }), lambdaContext());
        statuses.push(res.statusCode);
        if (res.statusCode === 200)
          tokens.push((JSON.parse(res.body) as { access_token: string }).access_token);
      }
      const denied = await handler(
        apiEvent({ body: '{"profile":"billing"}', userArn: 'arn:aws:iam::123456789012:user/eve' }),
        lambdaContext(),
      );
      statuses.push(denied.statusCode);
      expect(statuses).toEqual([200, 200, 502, 409, 503, 404, 403, 403]);
    }

    const output = written.join('');
    // The capture really saw the token path: audit lines, denials, EMF metrics.
    expect(output).toContain('token issued');
    expect(output).toContain('request denied');
    expect(output).toContain('"TokensIssued"');
    expect(assertions.length).toBeGreaterThan(0);
    expect(tokens.length).toBe(4);

    const keyBody = privateKeyPem.replace(/-----[^-]+-----|\s/g, '');
    const forbidden = [
      PASSWORD,
      ...keyBody.match(/.{32}/g)!.slice(0, 20),
      ...assertions.flatMap((a) => a.split('.')),
      ...tokens,
    ];
    for (const secret of forbidden) expect(output).not.toContain(secret);
  });
});
