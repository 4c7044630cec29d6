import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BrokerError } from '../../lib/errors.ts';
import { createSecretResolver, SECRET_CACHE_MAX_AGE_MS } from '../../lib/secrets/index.ts';

const sm = mockClient(SecretsManagerClient);
const PEM =
  '-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEAq7BFUpkGp3+LQmlQ\n-----END PRIVATE KEY-----\n';
const BINARY = new Uint8Array([0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2, 0xff, 0x00, 0x80]);

let now = 1_000_000;
const sleeps: number[] = [];

function resolver(extra: Partial<Parameters<typeof createSecretResolver>[0]> = {}) {
  return createSecretResolver({
    secretsManager: () =>
      new SecretsManagerClient({
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' },
      }),
    env: { KEY_PASSWORD: 'changeit', EMPTY: '' },
    cwd: dir,
    clock: () => now,
    sleep: async (ms) => void sleeps.push(ms),
    ...extra,
  });
}

function awsError(name: string, status: number, fault: 'client' | 'server' = 'client') {
  return new SecretsManagerServiceException({
    name,
    $fault: fault,
    $metadata: { httpStatusCode: status },
    message: `${name} happened`,
  });
}

async function rejection(promise: Promise<unknown>): Promise<BrokerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof BrokerError))
    throw new Error(`expected a BrokerError, got ${String(err)}`, { cause: err });
  return err;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tb-secrets-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));
beforeEach(() => {
  sm.reset();
  sleeps.length = 0;
  now = 1_000_000;
});

describe('secretsmanager: references', () => {
  it('returns SecretBinary bytes and the VersionId', async () => {
    sm.on(GetSecretValueCommand).resolves({ Name: 'prod/ks', VersionId: 'v-1', SecretBinary: BINARY });
    const value = await resolver().resolveBytes('secretsmanager:prod/ks');
    expect(Buffer.from(value.bytes)).toEqual(Buffer.from(BINARY));
    expect(value.text).toBeUndefined();
    expect(value.version).toBe('v-1');
    expect(sm.commandCalls(GetSecretValueCommand)[0]!.args[0].input).toEqual({ SecretId: 'prod/ks' });
  });

  it('decodes a base64 SecretString (wrapped lines too), keeps PEM text as text', async () => {
    const store = Buffer.concat([Buffer.from(BINARY), Buffer.alloc(37, 7)]);
    const wrapped = store.toString('base64').replace(/(.{20})/g, '$1\n');
    sm.on(GetSecretValueCommand, { SecretId: 'b64' }).resolves({ VersionId: 'v', SecretString: wrapped });
    sm.on(GetSecretValueCommand, { SecretId: 'pem' }).resolves({ VersionId: 'v', SecretString: PEM });
    const r = resolver();
    const b64 = await r.resolveBytes('secretsmanager:b64');
    expect(Buffer.from(b64.bytes)).toEqual(store);
    const pem = await r.resolveBytes('secretsmanager:pem');
    expect(Buffer.from(pem.bytes).toString('utf8')).toBe(PEM);
    expect(pem.text).toBe(PEM);
  });

  it('picks a JSON field holding base64 or PEM, with one fetch for several fields', async () => {
    const store = Buffer.concat([Buffer.from(BINARY), Buffer.alloc(13, 1)]);
    const json = JSON.stringify({ keystore: store.toString('base64'), pem: PEM, password: 'changeit' });
    sm.on(GetSecretValueCommand).resolves({ VersionId: 'v-7', SecretString: json });
    const r = resolver();
    const ks = await r.resolveBytes('secretsmanager:prod/ks#keystore');
    expect(Buffer.from(ks.bytes)).toEqual(store);
    expect(ks.version).toBe('v-7');
    expect(Buffer.from((await r.resolveBytes('secretsmanager:prod/ks#pem')).bytes).toString()).toBe(PEM);
    expect(await r.resolveText('secretsmanager:prod/ks#password')).toBe('changeit');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('sends VersionStage and VersionId from the query', async () => {
    sm.on(GetSecretValueCommand).resolves({ VersionId: 'v', SecretString: 'x' });
    const r = resolver();
    await r.resolveText('secretsmanager:prod/ks?stage=AWSPENDING');
    await r
      .resolveText('secretsmanager:prod/ks#f?version=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111')
      .catch(() => undefined);
    const inputs = sm.commandCalls(GetSecretValueCommand).map((c) => c.args[0].input);
    expect(inputs).toEqual([
      { SecretId: 'prod/ks', VersionStage: 'AWSPENDING' },
      { SecretId: 'prod/ks', VersionId: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111' },
    ]);
  });

  it('fails with ERR_SECRET_FIELD for a missing field or a secret that is not JSON', async () => {
    sm.on(GetSecretValueCommand, { SecretId: 'json' }).resolves({
      VersionId: 'v',
      SecretString: '{"password":"hunter2"}',
    });
    sm.on(GetSecretValueCommand, { SecretId: 'text' }).resolves({ VersionId: 'v', SecretString: 'hunter2' });
    const r = resolver();
    const missing = await rejection(r.resolveText('secretsmanager:json#keystore'));
    expect(missing.code).toBe('ERR_SECRET_FIELD');
    expect(missing.message).toBe(
      'secret reference "secretsmanager:json#keystore": no field "keystore" in the secret\'s JSON (fields: password)',
    );
    const notJson = await rejection(r.resolveText('secretsmanager:text#password'));
    expect(notJson.code).toBe('ERR_SECRET_FIELD');
    expect(notJson.message).toBe(
      'secret reference "secretsmanager:text#password": the secret is not a JSON object, so it has no field "password"; drop "#password" or store JSON',
    );
    expect(missing.message + notJson.message).not.toContain('hunter2');
  });

  it('maps ResourceNotFoundException to ERR_SECRET_NOT_FOUND without retrying', async () => {
    sm.on(GetSecretValueCommand).rejects(
      new ResourceNotFoundException({ message: 'not here', $metadata: { httpStatusCode: 400 } }),
    );
    const err = await rejection(resolver().resolveBytes('secretsmanager:prod/missing'));
    expect(err.code).toBe('ERR_SECRET_NOT_FOUND');
    expect(err.message).toBe(
      'secret "secretsmanager:prod/missing" does not exist in Secrets Manager (check the name, region and ?stage=/?version=)',
    );
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it.each([
    [
      'AccessDeniedException',
      'secret "secretsmanager:prod/ks": access denied; allow secretsmanager:GetSecretValue on it for this role',
    ],
    [
      'DecryptionFailure',
      'secret "secretsmanager:prod/ks": access denied to its KMS key; grant kms:Decrypt on that key (serverless param secretsKmsKeys)',
    ],
    [
      'AccessDeniedException',
      'secret "secretsmanager:prod/ks": access denied to its KMS key; grant kms:Decrypt on that key (serverless param secretsKmsKeys)',
      'Access to KMS is not allowed',
    ],
  ])('maps %s to ERR_SECRET_ACCESS_DENIED', async (name, message, said?: string) => {
    const error = awsError(name, 400);
    if (said !== undefined) error.message = said;
    sm.on(GetSecretValueCommand).rejects(error);
    const err = await rejection(resolver().resolveBytes('secretsmanager:prod/ks'));
    expect(err.code).toBe('ERR_SECRET_ACCESS_DENIED');
    expect(err.message).toBe(message);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('retries throttling with backoff and succeeds', async () => {
    sm.on(GetSecretValueCommand)
      .rejectsOnce(awsError('ThrottlingException', 400))
      .rejectsOnce(awsError('InternalServiceError', 500, 'server'))
      .resolves({ VersionId: 'v', SecretString: 'ok' });
    expect(await resolver().resolveText('secretsmanager:prod/ks')).toBe('ok');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(100);
    expect(sleeps[1]).toBeGreaterThanOrEqual(200);
  });

  it('gives up after 3 attempts with ERR_SECRET_UNAVAILABLE and caches no failure', async () => {
    const network = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    sm.on(GetSecretValueCommand).rejects(network);
    const r = resolver();
    const err = await rejection(r.resolveBytes('secretsmanager:prod/ks'));
    expect(err.code).toBe('ERR_SECRET_UNAVAILABLE');
    expect(err.message).toBe(
      'secret "secretsmanager:prod/ks": Secrets Manager is unavailable (connection refused); retry later',
    );
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
    sm.reset();
    sm.on(GetSecretValueCommand).resolves({ VersionId: 'v2', SecretString: 'back' });
    expect(await r.resolveText('secretsmanager:prod/ks')).toBe('back');
  });

  it('maps a 503 to ERR_SECRET_UNAVAILABLE', async () => {
    sm.on(GetSecretValueCommand).rejects(awsError('ServiceUnavailableException', 503, 'server'));
    const err = await rejection(resolver().resolveBytes('secretsmanager:prod/ks'));
    expect(err.code).toBe('ERR_SECRET_UNAVAILABLE');
    expect(err.message).toBe(
      'secret "secretsmanager:prod/ks": Secrets Manager is unavailable (ServiceUnavailableException); retry later',
    );
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(3);
  });

  it(`caches for SECRET_CACHE_MAX_AGE_MS (${SECRET_CACHE_MAX_AGE_MS} ms), then fetches again`, async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ VersionId: 'v1', SecretString: 'one' })
      .resolves({ VersionId: 'v2', SecretString: 'two' });
    const r = resolver();
    expect(await r.resolveText('secretsmanager:prod/ks')).toBe('one');
    now += SECRET_CACHE_MAX_AGE_MS - 1;
    expect(await r.resolveText('secretsmanager:prod/ks')).toBe('one');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
    now += 1;
    const value = await r.resolveBytes('secretsmanager:prod/ks');
    expect(value.text).toBe('two');
    expect(value.version).toBe('v2');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('shares one fetch between concurrent resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((done) => (release = done));
    sm.on(GetSecretValueCommand).callsFake(async () => {
      await gate;
      return { VersionId: 'v', SecretString: 'shared' };
    });
    const r = resolver();
    const all = Promise.all([1, 2, 3, 4, 5].map(() => r.resolveText('secretsmanager:prod/ks')));
    release();
    expect(await all).toEqual(['shared', 'shared', 'shared', 'shared', 'shared']);
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('invalidate(ref) makes the next resolve fetch again', async () => {
    sm.on(GetSecretValueCommand)
      .resolvesOnce({ VersionId: 'v1', SecretString: 'old' })
      .resolves({ VersionId: 'v2', SecretString: 'new' });
    const r = resolver();
    expect(await r.resolveText('secretsmanager:prod/ks')).toBe('old');
    expect(await r.resolveText('secretsmanager:prod/ks')).toBe('old');
    r.invalidate('secretsmanager:prod/ks#anyfield');
    expect(await r.resolveText('secretsmanager:prod/ks')).toBe('new');
    expect(sm.commandCalls(GetSecretValueCommand)).toHaveLength(2);
  });

  it('builds the client only when a secretsmanager: reference is resolved', async () => {
    let built = 0;
    const r = resolver({
      secretsManager: () => {
        built++;
        return new SecretsManagerClient({
          region: 'eu-west-1',
          credentials: { accessKeyId: 'A', secretAccessKey: 'B' },
        });
      },
    });
    await r.resolveText('env:KEY_PASSWORD');
    expect(built).toBe(0);
    sm.on(GetSecretValueCommand).resolves({ VersionId: 'v', SecretString: 'x' });
    await r.resolveText('secretsmanager:a');
    await r.resolveText('secretsmanager:b');
    expect(built).toBe(1);
  });
});

describe('env: and file: references', () => {
  it('reads env vars with a version that is not the value', async () => {
    const r = resolver();
    const value = await r.resolveBytes('env:KEY_PASSWORD');
    expect(value.text).toBe('changeit');
    expect(value.version).toMatch(/^[0-9a-f]{16}$/);
    expect(value.version).not.toContain('changeit');
    expect(await r.resolveText('env:KEY_PASSWORD')).toBe('changeit');
  });

  it('fails with ERR_SECRET_REFERENCE for a missing or empty variable', async () => {
    const err = await rejection(resolver().resolveText('env:NOT_SET'));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe('secret reference "env:NOT_SET": environment variable NOT_SET is not set');
    expect((await rejection(resolver().resolveText('env:EMPTY'))).message).toBe(
      'secret reference "env:EMPTY": environment variable EMPTY is not set',
    );
  });

  it('reads files relative to cwd: binary as bytes, text without its trailing newline', async () => {
    await writeFile(join(dir, 'store.jks'), BINARY);
    await writeFile(join(dir, 'password.txt'), 'changeit\n');
    const r = resolver();
    const bin = await r.resolveBytes('file:store.jks');
    expect(Buffer.from(bin.bytes)).toEqual(Buffer.from(BINARY));
    expect(bin.version).toMatch(/^[0-9a-f]{16}$/);
    expect(await r.resolveText(`file:${join(dir, 'password.txt')}`)).toBe('changeit');
    const err = await rejection(r.resolveText('file:store.jks'));
    expect(err.code).toBe('ERR_SECRET_FIELD');
    expect(err.message).toBe(
      'secret reference "file:store.jks" holds binary data where text (a password or key) is expected',
    );
  });

  it('changes the file version when the file changes', async () => {
    const path = join(dir, 'rotating.pem');
    await writeFile(path, PEM);
    await utimes(path, 1000, 1000);
    const first = await resolver().resolveBytes(`file:${path}`);
    await writeFile(path, PEM + '\n');
    await utimes(path, 2000, 2000);
    const second = await resolver().resolveBytes(`file:${path}`);
    expect(second.version).not.toBe(first.version);
  });

  it('fails with ERR_SECRET_REFERENCE for a missing file', async () => {
    const err = await rejection(resolver().resolveBytes('file:missing.p12'));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe(
      `secret reference "file:missing.p12": no such file (${join(dir, 'missing.p12')})`,
    );
  });

  it('rejects malformed references and unknown schemes with ERR_SECRET_REFERENCE', async () => {
    const err = await rejection(resolver().resolveBytes('ssm:/param'));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe(
      'secret reference "<not a reference>": not a secret reference (no known scheme); write secretsmanager:<name-or-arn>[#field], file:<path> or env:<VAR>, never the secret itself',
    );
  });

  it('resolves plain: inline values', async () => {
    expect(await resolver().resolveText('plain:changeit')).toBe('changeit');
  });
});
