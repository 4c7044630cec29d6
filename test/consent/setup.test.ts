import { describe, expect, it } from 'vitest';
import type { BrokerConfig } from '../../lib/config/types.ts';
import { consentBaseUrl, consentUrlBuilder } from '../../lib/consent/base-url.ts';
import { decodeStateKey, stateKeySource } from '../../lib/consent/state-key.ts';
import { ConfigError } from '../../lib/errors.ts';
import { SHARED_CALL_TIMEOUT_MS } from '../../lib/cache/resilient-store.ts';
import { consentStoreFor } from '../../lib/consent/setup.ts';
import { hang, startFaultServer } from '../support/fault-server.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { tokenProfile } from '../support/token-profile.ts';

const secrets = createSecretResolver({ env: { KEY: 'q'.repeat(40) }, cwd: '/' });

describe('consent state key', () => {
  it('decodes hex, base64 and long text keys', () => {
    expect(decodeStateKey('ab'.repeat(32))).toEqual(new Uint8Array(32).fill(0xab));
    expect(decodeStateKey(Buffer.alloc(32, 7).toString('base64'))).toEqual(new Uint8Array(32).fill(7));
    expect(decodeStateKey('x'.repeat(40)).byteLength).toBe(40);
  });

  it('refuses a key shorter than 32 bytes with ERR_CONFIG', () => {
    let caught: unknown;
    try {
      decodeStateKey('short');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe('ERR_CONFIG');
    expect((caught as ConfigError).message).toBe(
      'consent.stateKey must hold at least 32 random bytes (make one with `openssl rand -base64 32`)',
    );
  });

  it('needs consent.stateKey unless a per-process key is allowed', async () => {
    const none = { consent: { stateKey: undefined, baseUrl: undefined } };
    await expect(stateKeySource(none, secrets, { ephemeral: false })()).rejects.toMatchObject({
      code: 'ERR_CONFIG',
      message:
        'consent.stateKey is not set; put a random key in Secrets Manager and name it in consent.stateKey',
    });
    const local = stateKeySource(none, secrets, { ephemeral: true });
    const key = await local();
    expect(key.byteLength).toBe(32);
    expect(await local()).toBe(key);
    const configured = stateKeySource({ consent: { stateKey: 'env:KEY', baseUrl: undefined } }, secrets, {
      ephemeral: false,
    });
    expect(Buffer.from(await configured()).toString()).toBe('q'.repeat(40));
  });
});

describe('consent base URL', () => {
  const profile = tokenProfile({
    redirectUri: 'https://broker.example.com:443/consent/callback',
    authUri: 'https://idp.example.com/authorize',
  });
  const config = (baseUrl?: string): Pick<BrokerConfig, 'consent' | 'profiles'> => ({
    consent: { stateKey: undefined, baseUrl },
    profiles: { demo: profile, other: tokenProfile({ name: 'other' }) },
  });

  it('prefers consent.baseUrl, then the redirectUri, then the fallback', () => {
    expect(consentBaseUrl(config('https://api.example.com/prod'), profile)).toBe(
      'https://api.example.com/prod',
    );
    expect(consentBaseUrl(config(), profile)).toBe('https://broker.example.com:443');
    expect(
      consentBaseUrl(
        config(),
        { redirectUri: 'https://x.example.com:443/cb' },
        () => 'http://127.0.0.1:8787',
      ),
    ).toBe('http://127.0.0.1:8787');
  });

  it('builds consent URLs only for profiles with a consent step', () => {
    const build = consentUrlBuilder(config());
    expect(build('demo', 'a b@example.com')).toBe(
      'https://broker.example.com:443/consent/demo?subject=a%20b%40example.com',
    );
    expect(build('other', 'x')).toBeUndefined();
    expect(build('missing', 'x')).toBeUndefined();
  });
});

describe('consent store on DynamoDB', () => {
  it('gives up on a table endpoint that never answers after two bounded attempts, not at the Lambda timeout', async () => {
    const blackHole = await startFaultServer([hang]);
    try {
      const store = consentStoreFor({
        store: 'dynamodb',
        table: 'consent-hang',
        endpoint: blackHole.url,
        region: undefined,
        sealKey: undefined,
        refreshMargin: 300,
      });
      const started = performance.now();
      const outcome = await store.useNonce('nonce-1', Date.now() + 60_000).then(
        () => 'answered',
        (err: unknown) => (err as Error).name,
      );
      const elapsed = performance.now() - started;
      expect(outcome).toBe('TimeoutError');
      expect(blackHole.count()).toBe(2);
      // Two attempts of SHARED_CALL_TIMEOUT_MS each, plus the SDK's short backoff between them.
      expect(elapsed).toBeGreaterThanOrEqual(2 * SHARED_CALL_TIMEOUT_MS - 50);
      expect(elapsed).toBeLessThan(4 * SHARED_CALL_TIMEOUT_MS);
    } finally {
      await blackHole.close();
    }
  }, 15_000);
});
