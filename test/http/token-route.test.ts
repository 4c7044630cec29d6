/**
 * The direct token route's deadline: a broker still working `TIMEOUT_EARLY_MS` before the
 * request's deadline gets the same 503 and log line from the direct route as from the token
 * handler's middy stack, and a timer is not left behind after an answer.
 */
import { describe, expect, it, vi } from 'vitest';
import { createTokenHandler } from '../../functions/token.ts';
import { TIMEOUT_EARLY_MS } from '../../lib/http/stack.ts';
import { beforeDeadline, Deadlines } from '../../lib/http/deadlines.ts';
import {
  createDirectTokenRoute,
  REMEMBERED_BODIES_LIMIT,
  REMEMBERED_BODY_BYTES,
  RememberedBodies,
} from '../../lib/http/token-route.ts';
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

  it('answers brokers that finish before the deadline with one shared timer, not a timer per request', async () => {
    // A broker answering when the test says, without timers of its own.
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const token: IssuedToken = {
      access_token: 'a',
      token_type: 'Bearer',
      expires_in: 60,
      expires_at: 1,
      cached: true,
    };
    const broker: Broker = { issue: async () => (await gate, token) };
    const direct = createDirectTokenRoute({ broker, logger: recordingLogger().logger });
    const armed = vi.spyOn(globalThis, 'setTimeout');
    try {
      const pending = Array.from({ length: 20 }, (_, i) =>
        direct({
          headers: { 'content-type': 'application/json' },
          body: Buffer.from('{"profile":"billing"}'),
          authorizer: { lambda: { callerId: 'local', callerKind: 'local' } },
          requestId: `req-${i}`,
          sourceIp: '127.0.0.1',
          remainingMs: () => 60_000,
        }),
      );
      // All 20 are in flight, each with its deadline: one timer holds them all.
      await new Promise((resolve) => setImmediate(resolve));
      expect(armed).toHaveBeenCalledTimes(1);
      release();
      const answers = await Promise.all(pending);
      expect(answers.map((a) => a.statusCode)).toEqual(Array(20).fill(200));
      expect(armed).toHaveBeenCalledTimes(1);
    } finally {
      armed.mockRestore();
    }
  });
});

describe('direct token route metrics flush', () => {
  it.each([
    ['answers', slowBroker(0)],
    ['fails', { issue: () => Promise.reject(new Error('broker down')) } as Broker],
  ])(
    'rejects with a flush that throws, after the same log lines as the stack, when the broker %s',
    async (_, broker) => {
      const flush = (): void => {
        throw new Error('flush failed');
      };
      const metrics = { count: () => undefined, timing: () => undefined, flush };
      const viaStack = recordingLogger();
      const stack = createTokenHandler({ broker, logger: viaStack.logger, metrics });
      const event = apiEvent({ body: '{"profile":"billing"}', userArn: CALLER_ARN });
      await expect(stack(event, lambdaContext())).rejects.toThrow('flush failed');
      const viaDirect = recordingLogger();
      const direct = createDirectTokenRoute({ broker, logger: viaDirect.logger, metrics });
      await expect(
        direct({
          headers: { 'content-type': 'application/json' },
          body: Buffer.from('{"profile":"billing"}'),
          authorizer: event.requestContext.authorizer,
          requestId: 'req-1',
          sourceIp: '10.0.0.1',
          remainingMs: () => 60_000,
        }),
      ).rejects.toThrow('flush failed');
      expect(viaStack.lines).toHaveLength(1);
      expect(viaDirect.lines).toEqual(viaStack.lines);
    },
  );
});

describe('Deadlines', () => {
  it('fires each overdue entry once, never a settled one, and re-arms for the next deadline', () => {
    vi.useFakeTimers();
    try {
      const deadlines = new Deadlines({ now: () => Date.now() });
      const fired: string[] = [];
      const a = deadlines.add(100, () => fired.push('a'));
      deadlines.add(300, () => fired.push('b'));
      deadlines.add(50, () => fired.push('c')); // earlier than the armed timer: re-armed for it
      const d = deadlines.add(200, () => fired.push('d'));
      deadlines.settle(d);
      vi.advanceTimersByTime(60);
      expect(fired).toEqual(['c']);
      vi.advanceTimersByTime(50);
      expect(fired).toEqual(['c', 'a']);
      deadlines.settle(a); // already fired: nothing happens
      vi.advanceTimersByTime(1000);
      expect(fired).toEqual(['c', 'a', 'b']);
      expect(deadlines.size).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives the answer when it comes first and the late error when the deadline does', async () => {
    const deadlines = new Deadlines();
    await expect(beforeDeadline(deadlines, Promise.resolve(7), 1000, () => new Error('late'))).resolves.toBe(
      7,
    );
    await expect(
      beforeDeadline(deadlines, new Promise(() => undefined), 5, () => new Error('late')),
    ).rejects.toThrow('late');
    await expect(
      beforeDeadline(deadlines, Promise.reject(new Error('own')), 1000, () => new Error('late')),
    ).rejects.toThrow('own');
    expect(deadlines.size).toBe(0);
  });
});

describe('remembered token request bodies', () => {
  it('answers a body seen before from memory only after the media type and size checks pass', async () => {
    const logged = recordingLogger();
    const issued: unknown[] = [];
    const broker: Broker = {
      issue: async (request) => {
        issued.push({ profile: request.profile, subject: request.subject });
        return { access_token: 'a', token_type: 'Bearer', expires_in: 60, expires_at: 1, cached: true };
      },
    };
    const direct = createDirectTokenRoute({ broker, logger: logged.logger, maxBodyBytes: 40 });
    const call = (headers: Record<string, string>, body: string) =>
      direct({
        headers,
        body: Buffer.from(body),
        authorizer: { lambda: { callerId: 'local', callerKind: 'local' } },
        requestId: 'r',
        sourceIp: '127.0.0.1',
        remainingMs: () => 60_000,
      });
    const json = { 'content-type': 'application/json' };
    const body = '{"profile":"billing","subject":"a@b.c"}';
    expect((await call(json, body)).statusCode).toBe(200);
    expect((await call(json, body)).statusCode).toBe(200);
    expect((await call({ 'content-type': 'text/plain' }, body)).statusCode).toBe(415);
    expect((await call({}, body)).statusCode).toBe(415);
    expect((await call(json, `${body} `)).statusCode).toBe(200);
    expect(issued).toEqual(Array(3).fill({ profile: 'billing', subject: 'a@b.c' }));
    // Past the route's limit, a body is refused even when a shorter prefix was remembered.
    expect((await call(json, `${body}${' '.repeat(10)}`)).statusCode).toBe(413);
  });

  it('remembers at most REMEMBERED_BODIES_LIMIT bodies of at most REMEMBERED_BODY_BYTES, the oldest going first', () => {
    const bodies = new RememberedBodies();
    const bytes = (i: number): Buffer => Buffer.from(`{"profile":"p${i}"}`);
    for (let i = 0; i < REMEMBERED_BODIES_LIMIT + 10; i++) bodies.remember(bytes(i), { profile: `p${i}` });
    expect(bodies.size).toBe(REMEMBERED_BODIES_LIMIT);
    const json = 'application/json';
    expect(bodies.get(json, bytes(0), 16_384)).toBeUndefined();
    expect(bodies.get(json, bytes(REMEMBERED_BODIES_LIMIT + 9), 16_384)).toEqual({
      profile: `p${REMEMBERED_BODIES_LIMIT + 9}`,
    });
    expect(bodies.get('text/plain', bytes(REMEMBERED_BODIES_LIMIT + 9), 16_384)).toBeUndefined();
    expect(bodies.get(json, bytes(REMEMBERED_BODIES_LIMIT + 9), 5)).toBeUndefined();
    const long = Buffer.from(`{"profile":"${'a'.repeat(REMEMBERED_BODY_BYTES)}"}`);
    bodies.remember(long, { profile: 'a' });
    expect(bodies.get(json, long, 16_384)).toBeUndefined();
  });
});
