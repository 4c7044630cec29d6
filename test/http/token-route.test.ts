/**
 * The direct token route's deadline: a broker still working `TIMEOUT_EARLY_MS` before the
 * request's deadline gets the same 503 and log line from the direct route as from the token
 * handler's middy stack, and a timer is not left behind after an answer.
 */
import { describe, expect, it } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { TIMEOUT_EARLY_MS } from '../../lib/http/stack.ts';
import { createDirectTokenRoute } from '../../lib/http/token-route.ts';
import type { Broker, IssuedToken, LogFields, Logger } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from '../functions/events.ts';

function recordingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: LogFields): void =>
      void lines.push(JSON.stringify({ level, message, ...fields }));
  return {
    lines,
    logger: { debug: () => undefined, info: at('info'), warn: at('warn'), error: at('error') },
  };
}

/** A broker that answers after `ms` (never, when undefined). */
function slowBroker(ms: number | undefined): Broker {
  const token: IssuedToken = {
    access_token: 'a',
    token_type: 'Bearer',
    expires_in: 60,
    expires_at: 1,
    cached: true,
  };
  return {
    issue: () =>
      new Promise((resolve) => {
        if (ms !== undefined) setTimeout(() => resolve(token), ms);
      }),
  };
}

const CALLER_ARN = 'arn:aws:iam::123456789012:user/alice';
const LEFT_MS = TIMEOUT_EARLY_MS + 40;

describe('direct token route deadline', () => {
  it('answers 503 ERR_UPSTREAM_TIMEOUT when the broker is still working TIMEOUT_EARLY_MS before the deadline, as the stack does', async () => {
    const viaStack = recordingLogger();
    const stack = createTokenHandler({ broker: slowBroker(undefined), logger: viaStack.logger });
    const event = apiEvent({ body: '{"profile":"billing"}', userArn: CALLER_ARN });
    const expected = await stack(event, { ...lambdaContext(), getRemainingTimeInMillis: () => LEFT_MS });

    const viaDirect = recordingLogger();
    const direct = createDirectTokenRoute({ broker: slowBroker(undefined), logger: viaDirect.logger });
    const got = await direct({
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"profile":"billing"}'),
      authorizer: event.requestContext.authorizer,
      requestId: 'req-1',
      sourceIp: '10.0.0.1',
      remainingMs: () => LEFT_MS,
    });
    expect(expected.statusCode).toBe(503);
    expect(JSON.parse(expected.body!)).toMatchObject({ error: 'upstream_unavailable' });
    expect(got).toEqual(expected);
    expect(viaDirect.lines).toEqual(viaStack.lines);
    expect(viaStack.lines.join()).toContain('ERR_UPSTREAM_TIMEOUT');
  });

  it('answers a broker that finishes before the deadline, and leaves no timer running', async () => {
    const direct = createDirectTokenRoute({ broker: slowBroker(5), logger: recordingLogger().logger });
    const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const got = await direct({
      headers: { 'content-type': 'application/json' },
      body: Buffer.from('{"profile":"billing"}'),
      authorizer: { lambda: { callerId: 'local', callerKind: 'local' } },
      requestId: 'req-2',
      sourceIp: '127.0.0.1',
      remainingMs: () => 60_000,
    });
    expect(got.statusCode).toBe(200);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBe(before);
  });
});
