import { authorizeCaller } from '../auth/policy.ts';
import { signAssertion } from '../assertion/sign.ts';
import type { KmsApiFactory } from '../aws/kms.ts';
import { KeyMaterialCache } from '../signer/key-material.ts';
import { SignerCache } from '../signer/cache.ts';
import type { Signer } from '../signer/types.ts';
import { cacheKey } from '../cache/key.ts';
import { TokenCache } from '../cache/token-cache.ts';
import type { CachedToken, SharedTokenStore, TokenDescriptor } from '../cache/types.ts';
import { resolveRequest, type ResolvedRequest } from './request.ts';
import { tokenFingerprint } from './fingerprint.ts';
import { AUDIT_MESSAGE, auditFields } from './audit.ts';
import { withResolvedHeaders } from './headers.ts';
import { rejectsKey } from './key-rejection.ts';
import { DpopGate, withDpop } from './dpop.ts';
import { isWebIdentity, webIdentityCredential, type WebIdentityCredential } from './keyless.ts';
import type { StsApiFactory } from '../aws/sts.ts';
import { WebIdentitySource } from '../signer/web-identity.ts';
import { impersonate } from '../exchange/impersonate.ts';
import { BrokerError, ConsentRequired, RequestError, UpstreamRejected } from '../errors.ts';
import type { ProfileEvents } from '../events/emitter.ts';
import { exchangeToken, type ExchangeSettings } from '../exchange/exchange.ts';
import { ATTEMPT_TIMEOUT_MS, DEADLINE_MS } from '../exchange/retry.ts';
import { SkewMemory } from '../exchange/skew.ts';
import { WEB_IDENTITY_STORE, type BrokerConfig, type Profile } from '../config/types.ts';
import type { OpenKeystore } from '../keystore/types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import {
  noMetrics,
  silentLogger,
  type Broker,
  type Caller,
  type Clock,
  type IssueRequest,
  type IssuedToken,
  type Logger,
  type Metrics,
} from '../types.ts';

export { tokenFingerprint } from './fingerprint.ts';

/** What {@link createBroker} needs; everything but config and secrets has a default. */
export interface BrokerDeps {
  readonly config: BrokerConfig;
  readonly secrets: SecretResolver;
  /** Default: `openKeystore` of lib/keystore, loaded on first use. */
  readonly openKeystore?: OpenKeystore;
  /** KMS per region, for `certStore: kms:` profiles; default: SDK clients, ambient configuration. */
  readonly kms?: KmsApiFactory;
  /** STS per region, for profiles with `webIdentity`; default: SDK clients, ambient configuration. */
  readonly sts?: StsApiFactory;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  /** Shared cache across instances (DynamoDB); the in-process cache stays in front of it. */
  readonly sharedStore?: SharedTokenStore | undefined;
  /** The broker's consent-start URL for a profile and subject, put in `ERR_CONSENT_REQUIRED`. */
  readonly consentUrl?: (profile: string, subject: string) => string | undefined;
  /** Jitter source in [0, 1) for retries; default `Math.random`. */
  readonly random?: () => number;
  /** Token endpoint timeouts and retries (defaults in lib/exchange). */
  readonly exchange?: ExchangeSettings;
  /** Shared-store lease length, milliseconds. */
  readonly leaseMs?: number;
  /** In-process cache size. */
  readonly maxEntries?: number;
  /** Waits while polling the shared store; injected by tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * Whether work may go on after a request is answered (default true). The Lambda runtime
   * sets false: Lambda freezes the process once the handler settles, so a stale hit starts
   * no background refresh (lib/cache/token-cache.ts `backgroundWork`).
   */
  readonly backgroundWork?: boolean;
  /**
   * Caller kinds that bypass the profiles' `callers` policy. Only the CLI sets this, to
   * `['cli']`: it runs as the operator, who already holds the configuration and its
   * secrets. Services never set it, so every caller they pass is checked.
   */
  readonly trustedCallerKinds?: readonly Caller['kind'][];
  /**
   * Told when a provider wants consent, when a refused key is given up (after reopening and
   * AWSPENDING) and when a token is obtained (lib/events). Called on the way to the token
   * endpoint only, never on a cache hit; awaited, never throwing.
   */
  readonly events?: Pick<ProfileEvents, 'consentRequired' | 'keyRejected' | 'tokenObtained'> | undefined;
}

/** A request of the scheduled refresher. */
export interface RefreshRequest {
  readonly profile: string;
  readonly subject?: string | undefined;
  readonly scope?: string | undefined;
  /** Refresh even when the token held is not yet stale. */
  readonly force?: boolean;
  /** Epoch ms by which the answer is due: the token exchange's deadline is cut to fit. */
  readonly deadlineAt?: number | undefined;
}

/** The broker with the entry points of the schedule and the consent flow. */
export interface TokenBroker extends Broker {
  /**
   * Refreshes the token of a (profile, subject, scope) when it is missing or inside the
   * refresh margin (always with `force`), ignoring a remembered `consent_required`. No
   * caller policy: this is for the broker's own schedule and consent callback, never
   * for requests from outside.
   */
  refresh(request: RefreshRequest): Promise<IssuedToken>;
  /** Forgets the token and remembered consent answer of a (profile, subject, scope). */
  invalidate(request: Omit<RefreshRequest, 'force'>): void;
  /** The expiry of the profile's certificate (keystore leaf or KMS `certificate:`), when it has one. */
  certificateExpiry(profile: string): Promise<Date | undefined>;
  /** The cache key and descriptor of a request, as the shared store knows it. */
  describe(request: Omit<RefreshRequest, 'force'>): { key: string; descriptor: TokenDescriptor };
}

/**
 * Creates the broker: caller policy, request checks, cache, key material, assertion and
 * exchange, with one audit log line per issued token (by fingerprint, never the token).
 *
 * @throws TypeError for a malformed `deps` (a programming error).
 */
export function createBroker(deps: BrokerDeps): TokenBroker {
  const { config, secrets } = deps;
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger ?? silentLogger;
  const metrics = deps.metrics ?? noMetrics;
  const trusted = new Set(deps.trustedCallerKinds ?? []);
  const keys = new SignerCache({
    secrets,
    kms: deps.kms,
    keys: new KeyMaterialCache({
      secrets,
      logger,
      openKeystore: async () => deps.openKeystore ?? (await import('../keystore/index.ts')).openKeystore,
    }),
  });
  const cache = new TokenCache({
    clock,
    logger,
    fingerprint: fingerprintOf,
    refreshMargin: config.cache.refreshMargin,
    sharedStore: deps.sharedStore,
    ...(deps.leaseMs !== undefined && { leaseMs: deps.leaseMs }),
    ...(deps.maxEntries !== undefined && { maxEntries: deps.maxEntries }),
    ...(deps.sleep !== undefined && { sleep: deps.sleep }),
    ...(deps.backgroundWork !== undefined && { backgroundWork: deps.backgroundWork }),
  });
  // Web identity JWTs of keyless profiles, in memory only, on the region of the cache settings.
  const webIdentity = new WebIdentitySource({ sts: deps.sts, region: config.cache.region, clock, logger });
  // Clock offsets measured from skew rejections, per token endpoint host, for later assertions.
  const skew = new SkewMemory(clock);
  const dpop = new DpopGate(clock, { shared: deps.sharedStore });
  // A cache hit returns the object the cache holds: hash each token for the audit log once.
  const fingerprints = new WeakMap<CachedToken, string>();
  // A provider's DPoP-Nonce sent with a token, for the answers that obtained it (not cache hits).
  const dpopNonces = new WeakMap<CachedToken, string>();
  // The last answer served from each held token, and the scopes it was made for (their order
  // names the scope when the provider did not): see `answered`.
  const answers = new WeakMap<
    CachedToken,
    { readonly scopes: readonly string[]; readonly answer: IssuedToken }
  >();

  function fingerprintOf(token: CachedToken): string {
    let fingerprint = fingerprints.get(token);
    if (fingerprint === undefined) {
      fingerprint = tokenFingerprint(token.accessToken);
      fingerprints.set(token, fingerprint);
    }
    return fingerprint;
  }

  function profileOf(name: unknown): Profile {
    const profile =
      typeof name === 'string' && Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
    if (!profile)
      throw new RequestError(
        'ERR_UNKNOWN_PROFILE',
        `unknown profile "${String(name)}"; ask for a profile the broker's configuration defines`,
      );
    return profile;
  }

  /** One exchange signed with `key`. */
  async function exchangeWith(
    profile: Profile,
    resolved: ResolvedRequest,
    key: Signer | WebIdentityCredential,
  ): Promise<CachedToken> {
    const { subject, scopes } = resolved;
    const started = performance.now();
    try {
      const deadline = deps.exchange?.deadlineMs ?? DEADLINE_MS;
      // The exchange and google-wif's second step share one deadline.
      const endsAt =
        clock() + Math.min(deadline, (resolved.deadlineAt ?? Number.POSITIVE_INFINITY) - clock());
      const sendables = await withResolvedHeaders(profile, deps.secrets);
      const result = await exchangeToken({
        ...deps.exchange,
        ...(resolved.deadlineAt !== undefined && {
          deadlineMs: Math.max(1, Math.min(deadline, resolved.deadlineAt - clock())),
        }),
        profile: sendables.profile,
        credentials: sendables.credentials,
        subject,
        scopes,
        sign: async (clockOffset) =>
          isWebIdentity(key)
            ? key.jwt(clockOffset)
            : (await signAssertion({ profile, key, subject, scopes, now: clock(), clockOffset })).jwt,
        ...(deps.fetch && { fetch: deps.fetch }),
        clock,
        ...(deps.random && { random: deps.random }),
        consentUrl: () => deps.consentUrl?.(profile.name, subject),
        skew,
        dpop: resolved.dpop?.proof,
      });
      metrics.timing('UpstreamLatency', performance.now() - started);
      const { token, receivedAt } = result;
      if (result.widened.length > 0) {
        metrics.count('UpstreamScopeWidened', 1, { profile: profile.name });
        logger.warn('token endpoint granted a wider scope than asked', {
          profile: profile.name,
          subject,
          asked: scopes.join(' '),
          beyond: result.widened.join(' '),
        });
      }
      const federated: CachedToken = {
        accessToken: token.accessToken,
        tokenType: token.tokenType,
        expiresAt: receivedAt + token.expiresIn * 1000,
        scope: token.scope,
        obtainedAt: receivedAt,
        ...(Object.keys(token.fields).length > 0 && { fields: token.fields }),
      };
      // google-wif's second step: the service account's token is the one kept and answered.
      const obtained: CachedToken = profile.impersonate
        ? {
            ...(await impersonate({
              settings: profile.impersonate,
              federatedToken: federated.accessToken,
              scopes,
              timeoutMs: Math.max(
                1,
                Math.min(deps.exchange?.attemptTimeoutMs ?? ATTEMPT_TIMEOUT_MS, endsAt - clock()),
              ),
              ...(deps.fetch && { fetch: deps.fetch }),
            })),
            tokenType: 'Bearer',
            scope: scopes.length > 0 ? scopes.join(' ') : undefined,
            obtainedAt: clock(),
          }
        : federated;
      if (result.dpopNonce !== undefined) dpopNonces.set(obtained, result.dpopNonce);
      if (deps.events) await deps.events.tokenObtained(profile.name, subject);
      return obtained;
    } catch (err) {
      if (err instanceof BrokerError)
        metrics.count('UpstreamErrors', 1, { profile: profile.name, code: err.code });
      if (err instanceof ConsentRequired && deps.events)
        await deps.events.consentRequired({
          profile: profile.name,
          subject,
          scope: scopes.length > 0 ? scopes.join(' ') : undefined,
          consentUrl: err.consentUrl,
        });
      throw err;
    }
  }

  /**
   * A token from upstream. When the provider refuses the key (`rejectsKey`), the key
   * material is opened afresh once (a rotated keystore) and, with `rotation.tryPending`,
   * the AWSPENDING version is tried once; a key that did not change is not sent again.
   */
  async function obtain(profile: Profile, resolved: ResolvedRequest): Promise<CachedToken> {
    // The AWS JWT is refused as it is: no reopening, no AWSPENDING, no fallback to the key.
    const keyless = await webIdentityCredential(profile, webIdentity, logger);
    if (keyless !== undefined) return exchangeWith(profile, resolved, keyless);
    const key = await keys.get(profile);
    try {
      return await exchangeWith(profile, resolved, key);
    } catch (err) {
      if (!(err instanceof UpstreamRejected) || !rejectsKey(profile.provider, err)) throw err;
      logger.warn('the token endpoint refused the key; opening the key material afresh once', {
        profile: profile.name,
        error: err.error,
      });
      if (resolved.dpop !== undefined) {
        // A DPoP proof is single-use: the caller's next request, with a new proof, gets the reopened key.
        await keys.reopen(profile);
        throw err;
      }
      let rejected: UpstreamRejected = err;
      let stage = 'key';
      const reopened = await keys.reopen(profile);
      if (reopened !== key) {
        try {
          return await exchangeWith(profile, resolved, reopened);
        } catch (again) {
          if (!(again instanceof UpstreamRejected) || !rejectsKey(profile.provider, again)) throw again;
          rejected = again;
          stage = 'reopened';
        }
      }
      const pending = profile.rotation.tryPending ? await keys.pending(profile) : undefined;
      if (pending !== undefined) {
        logger.warn('trying the AWSPENDING version of the key material once', { profile: profile.name });
        try {
          return await exchangeWith(profile, resolved, pending);
        } catch (again) {
          if (!(again instanceof UpstreamRejected) || !rejectsKey(profile.provider, again)) throw again;
          rejected = again;
          stage = 'pending';
        }
      }
      await deps.events?.keyRejected({ profile: profile.name, error: rejected.error, stage });
      throw rejected;
    }
  }

  function answer(token: CachedToken, resolved: ResolvedRequest, cached: boolean): IssuedToken {
    const now = clock();
    const scope = token.scope ?? (resolved.scopes.length > 0 ? resolved.scopes.join(' ') : undefined);
    return {
      access_token: token.accessToken,
      token_type: token.tokenType,
      expires_in: Math.max(0, Math.floor((token.expiresAt - now) / 1000)),
      expires_at: Math.floor(token.expiresAt / 1000),
      ...(scope !== undefined && { scope }),
      ...(token.fields !== undefined && { fields: token.fields }),
      cached,
    };
  }

  /** The answer of a token just obtained, with the provider's DPoP-Nonce when it sent one. */
  function obtained(token: CachedToken, resolved: ResolvedRequest): IssuedToken {
    const nonce = dpopNonces.get(token);
    return Object.freeze({
      ...answer(token, resolved, false),
      ...(nonce !== undefined && { dpopNonce: nonce }),
    });
  }

  /**
   * The answer of a held token, built once per second of its life: while `expires_in` reads
   * the same, every request of the same scopes shares one frozen answer (callers read it,
   * never change it). One answer is kept per token, so it goes with its token.
   */
  function answered(token: CachedToken, resolved: ResolvedRequest): IssuedToken {
    const last = answers.get(token);
    if (last !== undefined && last.scopes === resolved.scopes) {
      const expiresIn = Math.max(0, Math.floor((token.expiresAt - clock()) / 1000));
      if (last.answer.expires_in === expiresIn) return last.answer;
    }
    const fresh = Object.freeze(answer(token, resolved, true));
    answers.set(token, { scopes: resolved.scopes, answer: fresh });
    return fresh;
  }

  function describe(request: Omit<RefreshRequest, 'force'>) {
    const resolved = resolveRequest(profileOf(request.profile), request);
    return { key: cacheKey(resolved.descriptor), descriptor: resolved.descriptor, resolved };
  }

  return {
    async issue(request: IssueRequest): Promise<IssuedToken> {
      const profile = profileOf(request.profile);
      if (trusted.has(request.caller.kind)) {
        logger.debug('caller policy bypassed for a trusted caller kind', { kind: request.caller.kind });
      } else {
        authorizeCaller(profile, request.caller);
      }
      // The request is checked before its proof, so a malformed request does not use the proof up.
      // Without a proof, a profile that does not require one has nothing to check.
      const unproved = (request.dpop === undefined || request.dpop === '') && profile.dpop !== 'required';
      const resolved = withDpop(
        resolveRequest(profile, request),
        unproved ? undefined : await dpop.check(profile, request.dpop, request.caller.id),
      );
      const key = cacheKey(resolved.descriptor);
      const rejected = request.rejected;
      // A token held in process is served without a wait (no promise of the cache's to await).
      // The loaders are written in place: under tsx (esbuild keepNames) a function value held in
      // a named const is given its name by a call each time one is made.
      let token: CachedToken | undefined =
        rejected === undefined
          ? cache.hit(key, resolved.descriptor, resolved.minTtlMs, () => obtain(profile, resolved))
          : undefined;
      let cached = true;
      if (token === undefined)
        ({ token, cached } = await cache.get(
          key,
          resolved.descriptor,
          resolved.minTtlMs,
          () => obtain(profile, resolved),
          rejected === undefined ? undefined : (t) => fingerprintOf(t) === rejected,
        ));
      const issued = cached ? answered(token, resolved) : obtained(token, resolved);
      metrics.count('TokensIssued', 1, { profile: profile.name });
      metrics.count(cached ? 'CacheHits' : 'CacheMisses');
      logger.info(
        AUDIT_MESSAGE,
        auditFields(
          request.caller,
          request.origin,
          profile.name,
          resolved.subject,
          issued.scope,
          cached,
          fingerprintOf(token),
        ),
      );
      return issued;
    },

    async refresh(request: RefreshRequest): Promise<IssuedToken> {
      const profile = profileOf(request.profile);
      if (profile.dpop === 'required')
        throw new RequestError(
          'ERR_DPOP_PROOF',
          `profile "${profile.name}" binds tokens to the caller's DPoP key; only a caller's request with a proof obtains one`,
        );
      const { key, descriptor, resolved } = describe(request);
      const { token, cached } = await cache.refresh(
        key,
        descriptor,
        () => obtain(profile, { ...resolved, deadlineAt: request.deadlineAt }),
        request.force ?? false,
      );
      if (!cached)
        logger.info('token refreshed', {
          profile: profile.name,
          subject: resolved.subject,
          fingerprint: fingerprintOf(token),
        });
      return answer(token, resolved, cached);
    },

    async certificateExpiry(name) {
      const profile = profileOf(name);
      // A keyless profile has no certificate to expire.
      if (profile.certStore === WEB_IDENTITY_STORE) return undefined;
      return (await keys.get(profile)).notAfter;
    },

    invalidate(request) {
      cache.delete(describe(request).key);
    },

    describe(request) {
      const { key, descriptor } = describe(request);
      return { key, descriptor };
    },
  };
}
