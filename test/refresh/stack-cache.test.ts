import { describe, expect, it } from 'vitest';
import { withStackCache } from '../../lib/runtime.ts';
import { configFrom, refreshProfile } from './support.ts';

const PROFILES = refreshProfile('demo', 'https://idp.example.com/token');

describe('deployed cache settings (withStackCache)', () => {
  it("switches to the stack's DynamoDB table and its seal key when the profiles file names none", () => {
    const config = configFrom(PROFILES);

    const deployed = withStackCache(config, {
      TOKEN_BROKER_CACHE_TABLE: 'token-broker-prod-CacheTable-1A2B3C',
      TOKEN_BROKER_CACHE_SEAL_KEY: 'secretsmanager:token-broker/prod/cache-key',
    });

    expect(deployed.cache).toEqual({
      ...config.cache,
      store: 'dynamodb',
      table: 'token-broker-prod-CacheTable-1A2B3C',
      sealKey: 'secretsmanager:token-broker/prod/cache-key',
    });
    expect(deployed.profiles).toBe(config.profiles);
  });

  it("keeps the profiles file's own cache.sealKey", () => {
    const config = configFrom(PROFILES, 'cache:\n  sealKey: secretsmanager:shared/cache-key\n');

    const deployed = withStackCache(config, {
      TOKEN_BROKER_CACHE_TABLE: 'stack-table',
      TOKEN_BROKER_CACHE_SEAL_KEY: 'secretsmanager:token-broker/prod/cache-key',
    });

    expect(deployed.cache).toMatchObject({
      store: 'dynamodb',
      table: 'stack-table',
      sealKey: 'secretsmanager:shared/cache-key',
    });
  });

  it('leaves the configuration as written without TOKEN_BROKER_CACHE_TABLE (local runs)', () => {
    const config = configFrom(PROFILES);

    expect(withStackCache(config, { TOKEN_BROKER_CACHE_SEAL_KEY: 'env:KEY' })).toBe(config);
    expect(withStackCache(config, { TOKEN_BROKER_CACHE_TABLE: '' })).toBe(config);
  });
});
