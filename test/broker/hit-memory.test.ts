/**
 * What a cache hit of `broker.issue()` remembers (the resolved request, its cache key, the
 * answer of a held token) never goes stale: a reload, a new token for the same key, another
 * caller, subject or scope, or a second on the clock each get their own answer and audit
 * line, byte for byte the ones built here from what the provider sent, and the same as a
 * broker whose configuration is not frozen (which resolves and keys every request afresh). Upstream requests are counted; nothing is timed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AUDIT_MESSAGE, type RequestOrigin } from '../../lib/broker/audit.ts';
import { tokenFingerprint } from '../../lib/broker/fingerprint.ts';
import type { BrokerConfig } from '../../lib/config/types.ts';
import type { Caller, IssuedToken } from '../../lib/types.ts';
import { harnessBroker, harnessConfig } from '../hardening/harness.ts';
import { capturingLogger } from '../hardening/support.ts';

const ALLOWED = { id: 'arn:aws:iam::123456789012:role/app', kind: 'iam' } as const;
const OTHER = { id: 'arn:aws:iam::123456789012:role/ops', kind: 'iam' } as const;
const DENIED = { id: 'arn:aws:iam::123456789012:role/intruder', kind: 'iam' } as const;
const HOUR_S = 3600;

/** What the provider answered with each token: when, and the scope it named (if any). */
interface Sent {
  readonly at: number;
  readonly scope: string | undefined;
}

/**
 * A token endpoint on no network: token `t<n>` per request, an hour's life, naming the
 * scope asked only when `echoScope`.
 */
function provider(clock: () => number, echoScope: boolean) {
  const sent = new Map<string, Sent>();
  const fetch: typeof globalThis.fetch = async (_input, init) => {
    const token = `t${sent.size + 1}`;
    const asked = new URLSearchParams(String(init?.body)).get('scope') ?? undefined;
    const scope = echoScope ? asked : undefined;
    sent.set(token, { at: clock(), scope });
    return new Response(
      JSON.stringify({
        access_token: token,
        token_type: 'Bearer',
        expires_in: HOUR_S,
        ...(scope && { scope }),
      }),
      { status: 200, headers: { 'content-type': 'application/json' } },
    );
  };
  return { fetch, calls: () => sent.size, sent: (token: string) => sent.get(token) };
}

function config(scope = 'read write', subjects: readonly string[] = ['*@example.com']): BrokerConfig {
  return harnessConfig({
    p: {
      issuer: 'client-p',
      tokenUrl: 'https://127.0.0.1:9/token',
      subject: 'alice@example.com',
      subjects,
      scope,
      callers: [ALLOWED.id, OTHER.id],
    },
  });
}

function brokerOver(cfg: BrokerConfig, clock: () => number, echoScope = false) {
  const upstream = provider(clock, echoScope);
  const logger = capturingLogger();
  const broker = harnessBroker(cfg, { fetch: upstream.fetch, clock, logger });
  const audits = () =>
    logger.lines.filter((l) => l.message === AUDIT_MESSAGE).map((l) => JSON.stringify(l.fields));
  return { broker, calls: upstream.calls, sent: upstream.sent, audits };
}

interface Asked {
  readonly caller: Caller;
  readonly subject?: string | undefined;
  readonly scope?: string | undefined;
  readonly origin?: RequestOrigin | undefined;
}

/** The answer to `asked` served with `token`, built here from what the provider sent. */
function answerFromScratch(asked: Asked, token: string, sent: Sent, cached: boolean, now: number): string {
  const expiresAt = sent.at + HOUR_S * 1000;
  const scopes = [...new Set((asked.scope ?? '').split(/\s+/).filter(Boolean))];
  const scope = sent.scope ?? (scopes.length > 0 ? scopes : ['read', 'write']).join(' ');
  return JSON.stringify({
    access_token: token,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((expiresAt - now) / 1000)),
    expires_at: Math.floor(expiresAt / 1000),
    scope,
    cached,
  });
}

/** The audit line of that answer, built here. */
function auditFromScratch(asked: Asked, token: string, scope: string, cached: boolean): string {
  return JSON.stringify({
    requestId: asked.origin?.requestId ?? null,
    caller: asked.caller.id,
    callerKind: asked.caller.kind,
    sourceIp: asked.origin?.sourceIp ?? null,
    profile: 'p',
    subject: asked.subject || 'alice@example.com',
    scope,
    cached,
    fingerprint: tokenFingerprint(token),
  });
}

/** An answer or a refusal, as bytes: field order counts. */
async function outcome(issue: () => Promise<IssuedToken>): Promise<string> {
  try {
    return `ok ${JSON.stringify(await issue())}`;
  } catch (err) {
    const { code, message } = err as { code?: string; message?: string };
    return `error ${code} ${message}`;
  }
}

describe('a cache hit of broker.issue()', () => {
  it('answers and logs every request as built from scratch, and as a broker over an unfrozen configuration', async () => {
    const request = fc.record({
      caller: fc.constantFrom(ALLOWED, OTHER, DENIED),
      subject: fc.constantFrom(undefined, '', 'alice@example.com', 'bob@example.com', 'eve@elsewhere.com'),
      scope: fc.constantFrom(undefined, '', 'read', 'write read', 'read write', 'read  read', 'admin'),
      minTtl: fc.constantFrom(undefined, 0, 60, 3000),
      origin: fc.constantFrom(undefined, { requestId: 'r-1' }, { sourceIp: '127.0.0.1' }),
      advanceMs: fc.constantFrom(0, 0, 0, 0, 1, 400, 1000, 60_000, 1_800_000),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(request, { minLength: 1, maxLength: 30 }),
        async (echo, requests) => {
          let now = 1_800_000_000_000;
          const clock = () => now;
          const cfg = config();
          const remembering = brokerOver(cfg, clock, echo);
          // structuredClone drops the freeze: this broker resolves, keys and answers every request afresh.
          const afresh = brokerOver(structuredClone(cfg), clock, echo);
          expect(Object.isFrozen(cfg.profiles['p'])).toBe(true);
          for (const { advanceMs, ...fields } of requests) {
            now += advanceMs;
            const ask = { profile: 'p', ...fields };
            const got = await outcome(() => remembering.broker.issue(ask));
            const reference = await outcome(() => afresh.broker.issue(ask));
            if (!got.startsWith('ok ')) {
              expect(got).toBe(reference);
              continue;
            }
            const issued = JSON.parse(got.slice(3)) as IssuedToken;
            const sent = remembering.sent(issued.access_token)!;
            expect(got).toBe(
              `ok ${answerFromScratch(fields, issued.access_token, sent, issued.cached, now)}`,
            );
            expect(reference).toBe(got);
            expect(remembering.audits().at(-1)).toBe(
              auditFromScratch(fields, issued.access_token, issued.scope!, issued.cached),
            );
          }
          expect(remembering.audits()).toEqual(afresh.audits());
          expect(remembering.calls()).toBe(afresh.calls());
        },
      ),
      { numRuns: 100 },
    );
  });

  it('gives the answer of a new token once the held one is replaced, and logs its fingerprint', async () => {
    let now = 1_800_000_000_000;
    const { broker, calls, audits } = brokerOver(config(), () => now);
    const request = { profile: 'p', caller: ALLOWED };
    const first = await broker.issue(request);
    const hit = await broker.issue(request);
    expect([first.access_token, first.cached, hit.access_token, hit.cached]).toEqual([
      't1',
      false,
      't1',
      true,
    ]);
    now += (HOUR_S - 30) * 1000; // under the default minTtl of 60 s: the held token no longer answers
    const replaced = await broker.issue(request);
    const again = await broker.issue(request);
    expect([replaced.access_token, replaced.cached, again.access_token, again.cached]).toEqual([
      't2',
      false,
      't2',
      true,
    ]);
    expect(again.expires_in).toBe(HOUR_S);
    expect(calls()).toBe(2);
    const fingerprints = audits().map((line) => (JSON.parse(line) as { fingerprint: string }).fingerprint);
    expect(fingerprints[0]).toBe(fingerprints[1]);
    expect(fingerprints[2]).not.toBe(fingerprints[1]);
    expect(fingerprints[3]).toBe(fingerprints[2]);
  });

  it('shares one frozen answer while expires_in reads the same, and a new one a second later', async () => {
    let now = 1_800_000_000_000;
    const { broker } = brokerOver(config(), () => now);
    const request = { profile: 'p', caller: ALLOWED };
    await broker.issue(request);
    now += 200;
    const a = await broker.issue(request);
    const b = await broker.issue({ ...request, caller: OTHER });
    expect(b).toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(() => {
      (a as { expires_in: number }).expires_in = 1;
    }).toThrow(TypeError);
    now += 1000;
    const c = await broker.issue(request);
    expect(c).not.toBe(a);
    expect([a.expires_in, c.expires_in]).toEqual([HOUR_S - 1, HOUR_S - 2]);
  });

  it('names the scope in each caller’s order when the provider names none, on the same token', async () => {
    const now = 1_800_000_000_000;
    const { broker, calls } = brokerOver(config(), () => now);
    const ab = await broker.issue({ profile: 'p', caller: ALLOWED, scope: 'read write' });
    const ba = await broker.issue({ profile: 'p', caller: ALLOWED, scope: 'write read' });
    const ab2 = await broker.issue({ profile: 'p', caller: ALLOWED, scope: 'read write' });
    expect([ab.scope, ba.scope, ab2.scope]).toEqual(['read write', 'write read', 'read write']);
    expect([ab.access_token, ba.access_token, ab2.access_token]).toEqual(['t1', 't1', 't1']);
    expect(calls()).toBe(1);
  });

  it('logs each caller and subject of a hit as its own, and refuses a caller the policy does not list', async () => {
    const now = 1_800_000_000_000;
    const { broker, audits } = brokerOver(config(), () => now);
    await broker.issue({ profile: 'p', caller: ALLOWED });
    await broker.issue({ profile: 'p', caller: OTHER, origin: { requestId: 'r-2', sourceIp: '127.0.0.1' } });
    await broker.issue({ profile: 'p', caller: ALLOWED, subject: 'bob@example.com' });
    await expect(broker.issue({ profile: 'p', caller: DENIED })).rejects.toMatchObject({
      code: 'ERR_FORBIDDEN',
      message: `caller "${DENIED.id}" may not use profile "p"; add it to the profile's callers`,
    });
    const lines = audits().map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => [l['caller'], l['subject'], l['cached'], l['requestId'], l['sourceIp']])).toEqual(
      [
        [ALLOWED.id, 'alice@example.com', false, null, null],
        [OTHER.id, 'alice@example.com', true, 'r-2', '127.0.0.1'],
        [ALLOWED.id, 'bob@example.com', false, null, null],
      ],
    );
  });

  it('answers by the reloaded profile, not by what the one before it remembered', async () => {
    const now = 1_800_000_000_000;
    const before = brokerOver(config('read write', ['*@example.com']), () => now);
    await before.broker.issue({ profile: 'p', caller: ALLOWED, subject: 'bob@example.com' });
    expect(
      (await before.broker.issue({ profile: 'p', caller: ALLOWED, subject: 'bob@example.com' })).scope,
    ).toBe('read write');
    // The same profile name and text but for its scope and subjects: new frozen objects.
    const after = brokerOver(config('read', ['alice@example.com']), () => now);
    expect((await after.broker.issue({ profile: 'p', caller: ALLOWED })).scope).toBe('read');
    await expect(
      after.broker.issue({ profile: 'p', caller: ALLOWED, subject: 'bob@example.com' }),
    ).rejects.toMatchObject({ code: 'ERR_SUBJECT_NOT_ALLOWED' });
    await expect(after.broker.issue({ profile: 'p', caller: ALLOWED, scope: 'write' })).rejects.toMatchObject(
      {
        code: 'ERR_SCOPE_NOT_ALLOWED',
      },
    );
  });
});
