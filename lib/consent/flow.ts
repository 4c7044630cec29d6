/**
 * The consent flow (DESIGN.md `GET /consent/{profile}` and `GET /consent/callback`):
 * start sends the browser to the provider's consent page with a signed, cookie-bound
 * `state`; completion verifies that state, consumes its nonce, confirms the consent with
 * the provider (code exchange, when a client secret is configured), proves it with one
 * JWT grant through the broker, records the outcome and says what happened.
 */
import type { TokenBroker } from '../broker/index.ts';
import { resolveRequest } from '../broker/request.ts';
import type { BrokerConfig, Profile } from '../config/types.ts';
import { BrokerError, ConsentError, RequestError } from '../errors.ts';
import type { ProfileEvents } from '../events/emitter.ts';
import { silentLogger, type Clock, type Logger } from '../types.ts';
import type { SecretResolver } from '../secrets/types.ts';
import { providerConsentUrl } from './authorize-url.ts';
import { CODE_EXCHANGE_TIMEOUT_MS, exchangeConsentCode } from './code-exchange.ts';
import { failurePage, grantedPage, type ConsentOutcome } from './outcome.ts';
import {
  CONSENT_COOKIE_NAME,
  consentCookie,
  mintConsentState,
  pkceVerifier,
  readCookie,
  verifyConsentState,
} from './state.ts';
import type { ConsentStore } from './store.ts';
import { oneLineText, providerText } from '../text.ts';

/** What the flow needs; clients, clock and fetch are injected. */
export interface ConsentFlowDeps {
  readonly config: BrokerConfig;
  /** Only `refresh` is used: one JWT grant that ignores a remembered `consent_required`. */
  readonly broker: Pick<TokenBroker, 'refresh'>;
  readonly store: ConsentStore;
  /** The HMAC key of `state` (see `stateKeySource`). */
  readonly stateKey: () => Promise<Uint8Array>;
  /** Resolves the profiles' `clientSecret`. */
  readonly secrets: SecretResolver;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Told of each grant recorded (`Consent Granted`, lib/events); awaited, never throwing. */
  readonly events?: Pick<ProfileEvents, 'consentGranted'> | undefined;
}

/** A consent start request: the path's profile and the query's subject. */
export interface ConsentStartInput {
  readonly profile: string | undefined;
  readonly subject: string | undefined;
}

/** Where to send the browser, and the cookie that binds the state to it. */
export interface ConsentStart {
  /** The provider's consent URL: always the profile's configured authUri. */
  readonly location: string;
  /** `Set-Cookie` value. */
  readonly cookie: string;
}

/** The callback request: its query parameters and the cookies the browser sent. */
export interface ConsentCallbackInput {
  readonly query: Readonly<Record<string, string | undefined>>;
  readonly cookies: string | readonly string[] | undefined;
  /**
   * When the answer is due (epoch ms; the Lambda deadline less the early answer): the code
   * exchange and the proof grant are cut to fit, so none of their work outlives the answer.
   */
  readonly deadlineAt?: number | undefined;
}

/** The two steps of the consent flow. */
export interface ConsentFlow {
  /**
   * @throws RequestError `ERR_UNKNOWN_PROFILE`, `ERR_SUBJECT_NOT_ALLOWED`, `ERR_INVALID_REQUEST`;
   * ConfigError `ERR_CONFIG` / SecretError `ERR_SECRET_*` for the state key.
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.1
   */
  start(input: ConsentStartInput): Promise<ConsentStart>;
  /**
   * Never throws: every failure becomes an outcome with its HTTP status and page.
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.2
   */
  complete(input: ConsentCallbackInput): Promise<ConsentOutcome>;
}

/** Longest provider `error_description` shown. */
const MAX_DESCRIPTION = 300;

/**
 * Least time between two proof grants for one profile and subject when the profile has no
 * `clientSecret` (nothing then confirms the callback with the provider), milliseconds.
 */
export const PROOF_INTERVAL_MS = 30_000;
/** Most (profile, subject) pairs whose last proof is remembered. */
const MAX_PROOF_ENTRIES = 10_000;

/** Refusals of the start route: all answer alike, so the route tells nothing about the config. */
const START_REFUSALS = new Set(['ERR_UNKNOWN_PROFILE', 'ERR_INVALID_REQUEST', 'ERR_SUBJECT_NOT_ALLOWED']);

/** The one answer to every start refusal. */
export const START_REFUSED_MESSAGE =
  'no consent can be started from this link; ask for a new one (a token request for the profile and subject answers it in consent_url)';

function busyProof(waitMs: number): ConsentError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new ConsentError(
    'ERR_CONSENT_BUSY',
    `this consent was checked moments ago; try again in ${seconds} s`,
    { details: { retry_after: seconds } },
  );
}

/** Creates the consent flow over its dependencies. */
export function createConsentFlow(deps: ConsentFlowDeps): ConsentFlow {
  const clock = deps.clock ?? Date.now;
  const logger = deps.logger ?? silentLogger;
  // Last proof grant per profile and subject (profiles without clientSecret).
  const proofs = new Map<string, number>();

  function profileOf(name: string | undefined): Profile {
    const profiles = deps.config.profiles;
    const profile = name !== undefined && Object.hasOwn(profiles, name) ? profiles[name] : undefined;
    if (!profile)
      throw new RequestError(
        'ERR_UNKNOWN_PROFILE',
        `unknown profile "${String(name)}"; ask for a profile the broker's configuration defines`,
      );
    return profile;
  }

  function consentStep(profile: Profile): { authUri: string; redirectUri: string } {
    if (profile.authUri === undefined || profile.redirectUri === undefined)
      throw new RequestError(
        'ERR_INVALID_REQUEST',
        `profile "${profile.name}" has no consent step: it needs authUri (or a provider preset with one) and redirectUri`,
      );
    return { authUri: profile.authUri, redirectUri: profile.redirectUri };
  }

  async function start(input: ConsentStartInput): Promise<ConsentStart> {
    let profile: Profile;
    let subject: string;
    try {
      profile = profileOf(input.profile);
      consentStep(profile);
      subject = resolveRequest(profile, { subject: input.subject }).subject;
    } catch (err) {
      if (!(err instanceof BrokerError) || !START_REFUSALS.has(err.code)) throw err;
      logger.warn('consent start refused', {
        profile: oneLineText(String(input.profile), 100),
        code: err.code,
        reason: err.message,
      });
      throw new RequestError('ERR_UNKNOWN_PROFILE', START_REFUSED_MESSAGE);
    }
    const { redirectUri } = consentStep(profile);
    const key = await deps.stateKey();
    // The state is readable by anyone holding the link: the default subject stays out of it.
    const stateSubject = subject === profile.subject ? '' : subject;
    const minted = mintConsentState(key, { profile: profile.name, subject: stateSubject }, clock());
    await deps.store.reserveNonce?.(minted.claims.nonce, minted.claims.expiresAt);
    const location = providerConsentUrl(profile, minted.state, minted.claims.nonce, key);
    logger.info('consent started', { profile: profile.name, subject });
    return { location, cookie: consentCookie(minted.cookieValue, new URL(redirectUri).pathname) };
  }

  /** Allows one proof grant per profile and subject per {@link PROOF_INTERVAL_MS} without a client secret. */
  function limitProof(profile: Profile, subject: string): void {
    if (profile.clientSecret !== undefined) return;
    const now = clock();
    const key = JSON.stringify([profile.name, subject]);
    const last = proofs.get(key);
    if (last !== undefined && now - last < PROOF_INTERVAL_MS) throw busyProof(last + PROOF_INTERVAL_MS - now);
    if (proofs.size >= MAX_PROOF_ENTRIES) {
      for (const [k, at] of proofs) if (now - at >= PROOF_INTERVAL_MS) proofs.delete(k);
      if (proofs.size >= MAX_PROOF_ENTRIES) throw busyProof(PROOF_INTERVAL_MS);
    }
    proofs.delete(key);
    proofs.set(key, now);
  }

  async function confirm(
    profile: Profile,
    code: string,
    nonce: string,
    key: Uint8Array,
    deadlineAt: number | undefined,
  ): Promise<void> {
    if (profile.clientSecret === undefined) return;
    const clientSecret = await deps.secrets.resolveText(profile.clientSecret);
    await exchangeConsentCode({
      profile,
      code,
      clientSecret,
      codeVerifier: profile.pkce ? pkceVerifier(key, nonce) : undefined,
      ...(deps.fetch && { fetch: deps.fetch }),
      ...(deadlineAt !== undefined && {
        timeoutMs: Math.max(1, Math.min(CODE_EXCHANGE_TIMEOUT_MS, deadlineAt - clock())),
      }),
    });
  }

  async function complete(input: ConsentCallbackInput): Promise<ConsentOutcome> {
    const { query } = input;
    let known: { profile: string; subject: string } | undefined;
    try {
      const key = await deps.stateKey();
      const claims = verifyConsentState(
        key,
        query['state'],
        readCookie(input.cookies, CONSENT_COOKIE_NAME),
        clock(),
      );
      if (!(await deps.store.useNonce(claims.nonce, claims.expiresAt)))
        throw new ConsentError(
          'ERR_CONSENT_STATE',
          'consent link is not valid: it was already used; start the consent again',
        );
      const profile = profileOf(claims.profile);
      const subject = claims.subject !== '' ? claims.subject : profile.subject;
      if (subject === undefined)
        throw new ConsentError(
          'ERR_CONSENT_STATE',
          'consent link is not valid: the profile has no default subject any more; start the consent again',
        );
      known = { profile: profile.name, subject };
      const providerError = query['error'];
      if (providerError !== undefined && providerError !== '') {
        const description = query['error_description'];
        throw new ConsentError(
          'ERR_CONSENT_DENIED',
          `the provider answered "${providerText(providerError, 100)}"` +
            (description ? `: ${providerText(description, MAX_DESCRIPTION)}` : ''),
          { details: { error: providerText(providerError, 100) } },
        );
      }
      const code = query['code'];
      if (code === undefined || code === '')
        throw new RequestError(
          'ERR_INVALID_REQUEST',
          'the provider sent no authorization code; start the consent again',
        );
      limitProof(profile, subject);
      await confirm(profile, code, claims.nonce, key, input.deadlineAt);
      // Confirmed by the provider (code exchange), a new grant proves the consent; without a
      // client secret nothing confirmed the callback, so a fresh token held is proof enough.
      await deps.broker.refresh({
        profile: profile.name,
        subject,
        force: profile.clientSecret !== undefined,
        deadlineAt: input.deadlineAt,
      });
      await deps.store.record({ ...known, at: clock(), outcome: 'granted' });
      logger.info('consent granted', known);
      await deps.events?.consentGranted(known);
      return grantedPage(known);
    } catch (err) {
      const outcome = failurePage(err, known);
      const code = err instanceof BrokerError ? err.code : 'ERR_INTERNAL';
      if (known) {
        await deps.store
          .record({ ...known, at: clock(), outcome: code })
          .catch(() => logger.warn('could not record the consent outcome', { ...known, code }));
      }
      const fields = { ...known, code, status: outcome.status };
      if (outcome.status >= 500)
        logger.error('consent failed', {
          ...fields,
          errorName: err instanceof Error ? err.name : typeof err,
        });
      else logger.warn('consent failed', fields);
      return outcome;
    }
  }

  return { start, complete };
}
