import { describe, expect, it } from 'vitest';
import { UpstreamRejected } from '../../lib/errors.ts';
import {
  isSkewRejection,
  SKEW_MEMORY_ENTRIES,
  SKEW_MEMORY_MS,
  SKEW_THRESHOLD_MS,
  SkewMemory,
} from '../../lib/exchange/index.ts';

const rejected = (error: string, errorDescription: string) =>
  new UpstreamRejected({ status: 400, error, errorDescription });

describe('SkewMemory', () => {
  it(`keeps an offset for ${SKEW_MEMORY_MS} ms and no longer`, () => {
    let now = 0;
    const memory = new SkewMemory(() => now);
    memory.set('idp.example.com', 600_000);
    now = SKEW_MEMORY_MS - 1;
    expect(memory.get('idp.example.com')).toBe(600_000);
    now = SKEW_MEMORY_MS;
    expect(memory.get('idp.example.com')).toBe(0);
  });

  it('forgets a host whose offset comes back within the threshold, and keeps hosts apart', () => {
    const memory = new SkewMemory(() => 0);
    memory.set('a.example.com', -120_000);
    memory.set('b.example.com', 90_000);
    memory.set('a.example.com', SKEW_THRESHOLD_MS);
    expect([memory.get('a.example.com'), memory.get('b.example.com')]).toEqual([0, 90_000]);
  });

  it(`holds at most ${SKEW_MEMORY_ENTRIES} hosts, dropping the oldest`, () => {
    const memory = new SkewMemory(() => 0);
    for (let i = 0; i <= SKEW_MEMORY_ENTRIES; i += 1) memory.set(`h${i}.example.com`, 60_000);
    expect(memory.get('h0.example.com')).toBe(0);
    expect(memory.get('h1.example.com')).toBe(60_000);
    expect(memory.get(`h${SKEW_MEMORY_ENTRIES}.example.com`)).toBe(60_000);
  });
});

describe('isSkewRejection', () => {
  it('knows the preset texts only for their provider, and the generic ones for all', () => {
    const entra = rejected(
      'invalid_client',
      'AADSTS700024: Client assertion is not within its valid time range.',
    );
    expect([isSkewRejection(entra, 'entra'), isSkewRejection(entra, 'generic')]).toEqual([true, false]);
    const google = rejected(
      'invalid_grant',
      'Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
    );
    expect([isSkewRejection(google, 'google'), isSkewRejection(google, 'docusign')]).toEqual([true, false]);
    expect(isSkewRejection(rejected('invalid_grant', 'assertion expired'), 'salesforce')).toBe(true);
    expect(isSkewRejection(rejected('invalid_scope', 'assertion expired'), 'generic')).toBe(false);
    expect(isSkewRejection(rejected('invalid_grant', 'user not found'), 'entra')).toBe(false);
  });
});
