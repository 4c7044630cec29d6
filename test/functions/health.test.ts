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
