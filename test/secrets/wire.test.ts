import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { boundedRequests, createSecretsManagerClient } from '../../lib/aws/sdk.ts';
import { BrokerError } from '../../lib/errors.ts';
import { hang, startFaultServer } from '../support/fault-server.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import {
  secretsManagerClient,
  startSecretsManager,
  type SecretsManagerServer,
} from '../support/secrets-manager-server.ts';

// Every byte value, so any text re-encoding on the wire would show.
const KEYSTORE = new Uint8Array(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256));

let sm: SecretsManagerServer;
let keystoreVersion: string;
const clients: ReturnType<typeof secretsManagerClient>[] = [];

beforeAll(async () => {
  sm = await startSecretsManager();
  keystoreVersion = sm.put('prod/keystore', { binary: KEYSTORE });
});
afterAll(async () => {
  for (const client of clients) client.destroy();
  await sm.close();
});

function realClient() {
  const client = secretsManagerClient(sm.endpoint);
  clients.push(client);
  return client;
}

describe('the real Secrets Manager client over HTTP on 127.0.0.1', () => {
  it('sends GetSecretValue in the JSON protocol and returns SecretBinary byte for byte', async () => {
    const resolver = createSecretResolver({ secretsManager: realClient, env: {}, cwd: '/' });
    const value = await resolver.resolveBytes('secretsmanager:prod/keystore?stage=AWSCURRENT');
    expect(Buffer.from(value.bytes)).toEqual(Buffer.from(KEYSTORE));
    expect(value.text).toBeUndefined();
    expect(value.version).toBe(keystoreVersion);
    const request = sm.calls.at(-1)!;
    expect(request.target).toBe('secretsmanager.GetSecretValue');
    expect(request.contentType).toBe('application/x-amz-json-1.1');
    expect(request.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/,
    );
    expect(request.body).toEqual({ SecretId: 'prod/keystore', VersionStage: 'AWSCURRENT' });
  });

  it('maps the service error response to ERR_SECRET_NOT_FOUND', async () => {
    const resolver = createSecretResolver({ secretsManager: realClient, env: {}, cwd: '/' });
    const err = await resolver.resolveBytes('secretsmanager:prod/nothing').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BrokerError);
    expect((err as BrokerError).code).toBe('ERR_SECRET_NOT_FOUND');
    expect((err as BrokerError).message).toBe(
      'secret "secretsmanager:prod/nothing" does not exist in Secrets Manager (check the name, region and ?stage=/?version=)',
    );
    expect(sm.calls.at(-1)!.body).toEqual({ SecretId: 'prod/nothing' });
  });

  it('fetches a rotated password past the cache with resolveTextFresh, once for concurrent callers', async () => {
    sm.put('prod/password', { text: 'old-password' });
    const resolver = createSecretResolver({ secretsManager: realClient, env: {}, cwd: '/' });
    expect(await resolver.resolveText('secretsmanager:prod/password')).toBe('old-password');
    sm.put('prod/password', { text: 'new-password' });
    expect(await resolver.resolveText('secretsmanager:prod/password')).toBe('old-password');
    const before = sm.reads('prod/password');

    const fresh = await Promise.all(
      [1, 2, 3].map(() => resolver.resolveTextFresh('secretsmanager:prod/password')),
    );

    expect(fresh).toEqual(['new-password', 'new-password', 'new-password']);
    expect(sm.reads('prod/password') - before).toBe(1);
    expect(await resolver.resolveText('secretsmanager:prod/password')).toBe('new-password');
    expect(sm.reads('prod/password') - before).toBe(1);
  });
});

describe('a Secrets Manager endpoint that accepts connections and never answers', () => {
  it('ends each attempt at its request timeout and fails the read with ERR_SECRET_UNAVAILABLE after 3 attempts', async () => {
    const blackHole = await startFaultServer([hang]);
    const attemptMs = 200;
    const resolver = createSecretResolver({
      // The broker's own client, with a short attempt bound so the test is quick (default AWS_ATTEMPT_TIMEOUT_MS).
      secretsManager: () =>
        createSecretsManagerClient({
          endpoint: blackHole.url,
          region: 'eu-west-1',
          credentials: { accessKeyId: 'AKIDHANG', secretAccessKey: 'hang-secret-not-real' },
          requestHandler: boundedRequests(attemptMs, attemptMs),
        }),
      env: {},
      cwd: '/',
    });
    try {
      const started = performance.now();
      const err = await resolver.resolveBytes('secretsmanager:prod/keystore').then(
        () => undefined,
        (e: unknown) => e as BrokerError,
      );
      const elapsed = performance.now() - started;
      expect(err?.code).toBe('ERR_SECRET_UNAVAILABLE');
      expect(err?.message).toBe(
        'secret "secretsmanager:prod/keystore": Secrets Manager is unavailable (no answer in time); retry later',
      );
      expect(blackHole.count()).toBe(3);
      expect(elapsed).toBeGreaterThanOrEqual(3 * attemptMs);
      expect(elapsed).toBeLessThan(3 * attemptMs + 2_000);
    } finally {
      await blackHole.close();
    }
  }, 15_000);
});
