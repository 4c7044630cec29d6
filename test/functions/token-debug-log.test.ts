/**
 * Issue 26, item 6: at DEBUG the token path says what it decided (memory hit or miss,
 * shared-store hit, lease won, waited for the lease holder, upstream call), naming the
 * profile and the token by fingerprint only; at INFO it writes nothing and names nothing.
 */
import { Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { createBroker, tokenFingerprint } from '../../lib/broker/index.ts';
import { createJsonLogger } from '../../lib/observability/json-logger.ts';
import { createPowertoolsLogger } from '../../lib/observability/powertools.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { debugEnabled, type Logger } from '../../lib/types.ts';
import { memorySharedStore } from '../support/memory-shared-store.ts';
import { apiEvent, lambdaContext } from './events.ts';
import { EXAMPLES, startHarness, type Harness } from './harness.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';

let harness: Harness;
beforeAll(async () => {
  harness = await startHarness();
});
afterAll(() => harness.close());

/** A JSON logger at `level` whose lines are kept, parsed. */
function capture(level: 'DEBUG' | 'INFO') {
  const lines: Record<string, unknown>[] = [];
  const logger = createJsonLogger({ level, write: (line) => void lines.push(JSON.parse(line)) });
  return { logger, lines, debug: () => lines.filter((l) => l['level'] === 'DEBUG') };
}

function brokerWith(logger: Logger, sharedStore?: ReturnType<typeof memorySharedStore>) {
  return createBroker({
    config: harness.config,
    secrets: createSecretResolver({ env: {}, cwd: EXAMPLES }),
    logger,
    sharedStore,
    exchange: { sleep: async () => undefined },
  });
}

async function ask(logger: Logger, broker: ReturnType<typeof brokerWith>): Promise<string> {
  const handler = createTokenHandler({ broker, logger });
  const result = await handler(
    apiEvent({ body: JSON.stringify({ profile: 'billing' }), userArn: ALICE }),
    lambdaContext(),
  );
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body) as { access_token: string }).access_token;
}

/** The debug lines as `message profile fingerprint`, and no field holding the token. */
function decisions(lines: Record<string, unknown>[], token: string): string[] {
  expect(JSON.stringify(lines)).not.toContain(token);
  return lines
    .filter((l) => l['level'] === 'DEBUG' && String(l['message']).startsWith('token path:'))
    .map((l) => [l['message'], l['profile'], l['fingerprint'] ?? '-'].join(' '));
}

describe('debug lines of the token path', () => {
  afterEach(() => harness.authorization.resetRequests());

  it('a miss then a hit, in process: memory miss, upstream call, memory hit, by fingerprint', async () => {
    const { logger, lines } = capture('DEBUG');
    const broker = brokerWith(logger);
    const first = await ask(logger, broker);
    const second = await ask(logger, broker);
    expect(second).toBe(first);
    const fp = tokenFingerprint(first);
    expect(decisions(lines, first)).toEqual([
      'token path: memory miss billing -',
      `token path: upstream call billing ${fp}`,
      `token path: memory hit billing ${fp}`,
    ]);
    expect(lines.find((l) => l['message'] === 'token path: memory hit')).toMatchObject({
      expiresIn: expect.any(Number),
    });
    expect(harness.authorization.requestCount()).toBe(1);
  });

  it('with a shared store: lease won on the miss, a shared-store hit on another instance', async () => {
    const shared = memorySharedStore(Date.now);
    const a = capture('DEBUG');
    const b = capture('DEBUG');
    const token = await ask(a.logger, brokerWith(a.logger, shared));
    const again = await ask(b.logger, brokerWith(b.logger, shared));
    expect(again).toBe(token);
    const fp = tokenFingerprint(token);
    expect(decisions(a.lines, token)).toEqual([
      'token path: memory miss billing -',
      'token path: lease won billing -',
      `token path: upstream call billing ${fp}`,
    ]);
    expect(decisions(b.lines, token)).toEqual([
      'token path: memory miss billing -',
      `token path: shared-store hit billing ${fp}`,
    ]);
    expect(harness.authorization.requestCount()).toBe(1);
  });

  it('two instances at once: one wins the lease, the other waits for its token', async () => {
    const shared = memorySharedStore(Date.now);
    const a = capture('DEBUG');
    const b = capture('DEBUG');
    const [one, two] = await Promise.all([
      ask(a.logger, brokerWith(a.logger, shared)),
      ask(b.logger, brokerWith(b.logger, shared)),
    ]);
    expect(two).toBe(one);
    const messages = [...decisions(a.lines, one), ...decisions(b.lines, one)].map((l) =>
      l.replace(/ billing.*$/, ''),
    );
    expect(messages.sort()).toEqual(
      [
        'token path: memory miss',
        'token path: memory miss',
        'token path: lease won',
        'token path: upstream call',
        'token path: waited for the lease holder',
        'token path: shared-store hit',
      ].sort(),
    );
    expect(harness.authorization.requestCount()).toBe(1);
  });

  it('at INFO writes no debug line', async () => {
    const { logger, debug } = capture('INFO');
    expect(debugEnabled(logger)).toBe(false);
    const broker = brokerWith(logger);
    await ask(logger, broker);
    await ask(logger, broker);
    expect(debug()).toEqual([]);
  });

  it('asks the Powertools logger its level on each call (sampling may change it)', () => {
    const inner = new PowertoolsLogger({ serviceName: 'test', logLevel: 'INFO' });
    const logger = createPowertoolsLogger({ logger: inner });
    expect(debugEnabled(logger)).toBe(false);
    inner.setLogLevel('DEBUG');
    expect(debugEnabled(logger)).toBe(true);
    expect(debugEnabled({ ...logger, isDebugEnabled: undefined })).toBe(true);
  });
});
