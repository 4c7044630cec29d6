import { describe, expect, it } from 'vitest';
import { createHealthHandler } from '../../functions/health.ts';
import { ConfigError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/types.ts';
import { apiEvent, lambdaContext } from './events.ts';

const ALICE = 'arn:aws:iam::123456789012:user/alice';

describe('GET /health handler', () => {
  it('lists the profiles, sorted, with no-store headers', async () => {
    const handler = createHealthHandler({ profiles: async () => ['zeta', 'alpha'], logger: silentLogger });
    const res = await handler(apiEvent({ routeKey: 'GET /health', userArn: ALICE }), lambdaContext());
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok', profiles: ['alpha', 'zeta'] });
    expect(res.headers['Cache-Control']).toBe('no-store');
  });

  it('answers a plain 500 when the configuration cannot load, without its details', async () => {
    const handler = createHealthHandler({
      profiles: async () => {
        throw new ConfigError('ERR_CONFIG', 'profile "x": certStore: secretsmanager:prod/x is wrong');
      },
      logger: silentLogger,
    });
    const res = await handler(apiEvent({ routeKey: 'GET /health', userArn: ALICE }), lambdaContext());
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ error: 'internal', message: 'internal error' });
  });

  it('needs a caller like every route', async () => {
    const handler = createHealthHandler({ profiles: ['a'], logger: silentLogger });
    const res = await handler(apiEvent({ routeKey: 'GET /health' }), lambdaContext());
    expect(res.statusCode).toBe(403);
  });
});

describe('GET /health?deep=1 handler: the deep-caller rule', () => {
  const OPS_SESSION = 'arn:aws:sts::123456789012:assumed-role/ops/alice';
  const deepEvent = (userArn: string) => ({
    ...apiEvent({ routeKey: 'GET /health', userArn }),
    queryStringParameters: { deep: '1' },
  });
  function handlerWith(deepCallers: readonly string[] | undefined) {
    let deepCalls = 0;
    const handler = createHealthHandler({
      profiles: ['a'],
      deep: async () => {
        deepCalls += 1;
        return { status: 'ok', checks: { a: { ok: true } } };
      },
      deepCallers: deepCallers && (async () => deepCallers),
      logger: silentLogger,
    });
    return { handler, calls: () => deepCalls };
  }

  it('answers 200 with the checks to a caller the patterns admit (an assumed-role session as its role)', async () => {
    const { handler, calls } = handlerWith(['arn:aws:iam::123456789012:role/ops']);
    const res = await handler(deepEvent(OPS_SESSION), lambdaContext());
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok', profiles: ['a'], checks: { a: { ok: true } } });
    expect(calls()).toBe(1);
  });

  it('answers 403 forbidden to other callers without checking anything; plain /health stays open', async () => {
    const { handler, calls } = handlerWith(['arn:aws:iam::123456789012:role/ops']);
    const res = await handler(deepEvent(ALICE), lambdaContext());
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body)).toEqual({
      error: 'forbidden',
      message: `caller "${ALICE}" may not ask for GET /health?deep=1; add it to the healthDeepCallers param`,
      caller: ALICE,
    });
    expect(calls()).toBe(0);
    const plain = await handler(apiEvent({ routeKey: 'GET /health', userArn: ALICE }), lambdaContext());
    expect(plain.statusCode).toBe(200);
  });

  it('refuses everybody when the list is empty (the deployed default)', async () => {
    const { handler, calls } = handlerWith([]);
    expect((await handler(deepEvent(OPS_SESSION), lambdaContext())).statusCode).toBe(403);
    expect(calls()).toBe(0);
  });

  it('admits every authenticated caller without a rule (the local server)', async () => {
    const { handler } = handlerWith(undefined);
    expect((await handler(deepEvent(ALICE), lambdaContext())).statusCode).toBe(200);
  });
});
