import { describe, expect, it } from 'vitest';
import { networkCause } from '../../lib/aws/network-cause.ts';
import {
  dynamoDbClientConfig,
  loadDynamoDbSdk,
  loadSecretsManagerSdk,
  namedExports,
} from '../../lib/aws/sdk.ts';

class Client {}

describe('namedExports', () => {
  it('takes the named exports of an ES module as they are', () => {
    const esm = { Client, other: 1 };
    expect(namedExports<typeof esm>(esm, 'Client', 'x')).toBe(esm);
  });

  it('takes them from the default export of a CommonJS module wrapped by a bundler', () => {
    const cjs = { Client };
    expect(namedExports<typeof cjs>({ default: cjs }, 'Client', 'x')).toBe(cjs);
  });

  it('refuses a module that has the export in neither shape with a TypeError naming both', () => {
    expect(() =>
      namedExports<{ Client: typeof Client }>({ default: {} }, 'Client', '@aws-sdk/client-x'),
    ).toThrow(
      new TypeError(
        'module @aws-sdk/client-x has no export Client (neither named nor on its default export)',
      ),
    );
    expect(() => namedExports<{ Client: typeof Client }>(null, 'Client', 'y')).toThrow(TypeError);
  });

  it('loads the SDK clients the broker uses, once', async () => {
    expect(typeof (await loadSecretsManagerSdk()).SecretsManagerClient).toBe('function');
    expect(await loadDynamoDbSdk()).toBe(await loadDynamoDbSdk());
  });
});

describe('dynamoDbClientConfig', () => {
  it('bounds every attempt and signs with local credentials only for a local endpoint', () => {
    expect(dynamoDbClientConfig({ timeoutMs: 1000 })).toEqual({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 1000, requestTimeout: 1000, throwOnRequestTimeout: true },
    });
    expect(dynamoDbClientConfig({ timeoutMs: 500, endpoint: 'http://127.0.0.1:8000' })).toEqual({
      maxAttempts: 2,
      requestHandler: { connectionTimeout: 500, requestTimeout: 500, throwOnRequestTimeout: true },
      endpoint: 'http://127.0.0.1:8000',
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
});

describe('networkCause', () => {
  const socket = (code: string, extra: object = {}) =>
    Object.assign(new Error(`x ${code}`), { code, ...extra });

  it('names refused, reset, timed-out and DNS failures with where they happened', () => {
    expect(networkCause(socket('ECONNREFUSED', { address: '127.0.0.1', port: 9 }))).toBe(
      'connection refused by 127.0.0.1:9',
    );
    expect(networkCause(socket('ENOTFOUND', { hostname: 'secretsmanager.eu-west-1.amazonaws.com' }))).toBe(
      'host not found (DNS) for secretsmanager.eu-west-1.amazonaws.com',
    );
    expect(networkCause(socket('ECONNRESET'))).toBe('connection reset');
    expect(networkCause(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe('no answer in time');
  });

  it('looks through cause chains and AggregateError (happy eyeballs) for the first network failure', () => {
    const aggregate = new AggregateError([
      new Error('plain'),
      socket('ETIMEDOUT', { address: '::1', port: 443 }),
    ]);
    expect(networkCause(aggregate)).toBe('connection timed out by ::1:443');
    expect(
      networkCause(new Error('outer', { cause: new Error('mid', { cause: socket('EAI_AGAIN') }) })),
    ).toBe('DNS lookup failed, try again');
  });

  it('is undefined for failures that are not network failures, and for a cycle of causes', () => {
    expect(networkCause(new Error('AccessDenied'))).toBeUndefined();
    expect(networkCause('text')).toBeUndefined();
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    expect(networkCause(loop)).toBeUndefined();
  });
});
