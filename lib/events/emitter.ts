/**
 * Decides when an event is due and sends it once: each condition moves a record of the
 * repeat-prevention state (./state.ts) by a conditional write, and only the caller that
 * made the move sends. Every method is awaited by its caller (Lambda freezes the process
 * once the handler settles), never throws, and returns within {@link EMIT_TIMEOUT_MS}: a
 * state or sink failure is one warning and an `EventsFailed` count, never a failed request.
 * At the bound the send in flight is aborted and no further step starts; a claim is given
 * back only after a send that failed within the bound (a timed-out send may have reached
 * the bus, so that event is not repeated).
 */
import type { BrokerConfig, NotifySettings } from '../config/types.ts';
import { notifySettings } from '../config/profile.ts';
import type { Clock, Logger, Metrics } from '../types.ts';
import { DETAIL_VERSION, subjectField, type DetailType, type EventDetail } from './schema.ts';
import type { EventSink } from './sink.ts';
import { stateKey, type EventState } from './state.ts';

/** The longest an event may hold its caller (state write and send together), milliseconds. */
export const EMIT_TIMEOUT_MS = 2_500;

/** How often one instance re-arms the events of a (profile, subject) after obtaining a token, milliseconds. */
export const REARM_INTERVAL_MS = 60_000;

/** (profile, subject) pairs whose last re-arming is remembered; the memory starts over past this. */
const MAX_REARM_ENTRIES = 10_000;

/** An OAuth `error` code as RFC 6749 §5.2 allows it, kept short; anything else is left out of events. */
const OAUTH_ERROR = /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/;

/** The provider's `error` when it is one (a provider may answer anything there). */
function errorCode(error: string | undefined): string | undefined {
  return error !== undefined && OAUTH_ERROR.test(error) ? error : undefined;
}

const DAY_MS = 86_400_000;

/** A token the schedule refreshes: (profile, subject, scope). */
export interface EventTarget {
  readonly profile: string;
  readonly subject: string | undefined;
  /** Space-separated; undefined for the profile's own scope. */
  readonly scope: string | undefined;
}

/** Why a refresh failed: the broker's code, and the provider's answer when there was one. */
export interface RefreshFailure {
  readonly code: string;
  /** The provider's OAuth `error`. */
  readonly error?: string | undefined;
  /** Seconds from the provider's `Retry-After`. */
  readonly retryAfter?: number | undefined;
}

/** The events of the broker's flows (lib/broker, lib/refresh, lib/consent). */
export interface ProfileEvents {
  /**
   * A scheduled refresh of `target` failed: `Token Refresh Failed` at the profile's
   * `notify.refreshFailures`-th in a row. `until` (epoch ms): the emission ends by then if
   * that comes before its time bound (the refresh run's `finishBy`).
   */
  refreshFailed(target: EventTarget, failure: RefreshFailure, until?: number): Promise<void>;
  /** A scheduled refresh of `target` obtained a token: `Token Refresh Recovered` when it had been reported failing; `until` as above. */
  refreshSucceeded(target: EventTarget, until?: number): Promise<void>;
  /**
   * The provider wants consent: `Consent Required`, the first time per subject until granted;
   * without `consentUrl` when the profile names subjects by fingerprint (the URL holds the subject).
   */
  consentRequired(fields: EventTarget & { readonly consentUrl: string | undefined }): Promise<void>;
  /** The consent callback recorded a grant: `Consent Granted`, and `Consent Required` re-armed. */
  consentGranted(fields: { readonly profile: string; readonly subject: string }): Promise<void>;
  /** The profile's certificate: `Certificate Expiring` once per threshold crossed per certificate. */
  certificateExpiry(profile: string, notAfter: Date): Promise<void>;
  /** Neither reopening nor AWSPENDING cured a refused key: `Key Rejected`, once until a token is obtained. */
  keyRejected(fields: {
    readonly profile: string;
    readonly error: string;
    readonly stage: string;
  }): Promise<void>;
  /**
   * A token was obtained for `profile` and `subject`: re-arms `Key Rejected` of the profile
   * and `Consent Required` of the subject (a consent granted elsewhere than the callback),
   * at most once per {@link REARM_INTERVAL_MS} per (profile, subject) and instance.
   */
  tokenObtained(profile: string, subject: string): Promise<void>;
}

/** What {@link createProfileEvents} needs. */
export interface ProfileEventsDeps {
  readonly config: BrokerConfig;
  readonly sink: EventSink;
  readonly state: EventState;
  readonly clock?: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Default {@link EMIT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
}

type DetailFields = Omit<EventDetail, 'schemaVersion' | 'profile' | 'at' | 'subject' | 'subjectFingerprint'>;

class EmitTimeout extends Error {
  override readonly name = 'EmitTimeout';
}

/** Creates the events of `deps.config`'s profiles. */
export function createProfileEvents(deps: ProfileEventsDeps): ProfileEvents {
  const { sink, state, logger, metrics } = deps;
  const clock = deps.clock ?? Date.now;
  const timeoutMs = deps.timeoutMs ?? EMIT_TIMEOUT_MS;
  const defaults = notifySettings(undefined);
  // The certificate threshold last known announced per profile (`notAfter@threshold`).
  const announced = new Map<string, string>();
  // When this instance last re-armed the events of a (profile, subject): profile -> subject -> time.
  const rearmed = new Map<string, Map<string, number>>();

  const notify = (profile: string): NotifySettings =>
    (Object.hasOwn(deps.config.profiles, profile) ? deps.config.profiles[profile]?.notify : undefined) ??
    defaults;

  function detail(profile: string, subject: string | undefined, fields: DetailFields): EventDetail {
    return {
      schemaVersion: DETAIL_VERSION,
      profile,
      ...subjectField(subject, notify(profile).subject),
      ...Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)),
      at: new Date(clock()).toISOString(),
    };
  }

  async function send(detailType: DetailType, eventDetail: EventDetail, signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await sink.send({ detailType, detail: eventDetail }, signal);
    metrics.count('EventsSent', 1, { profile: eventDetail.profile });
    logger.info('event sent', { type: detailType, profile: eventDetail.profile });
  }

  /**
   * Runs `work` within the timeout (or until `until`, when sooner), aborting its signal at the
   * bound; a failure is a warning and a count, never an exception.
   */
  async function guarded(
    what: DetailType,
    profile: string,
    work: (signal: AbortSignal) => Promise<void>,
    until?: number,
  ): Promise<void> {
    const boundMs = until === undefined ? timeoutMs : Math.max(0, Math.min(timeoutMs, until - clock()));
    let timer: NodeJS.Timeout | undefined;
    const bound = new AbortController();
    try {
      await Promise.race([
        work(bound.signal),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const timeout = new EmitTimeout(`no answer within ${boundMs} ms`);
            bound.abort(timeout);
            reject(timeout);
          }, boundMs);
        }),
      ]);
    } catch (error) {
      metrics.count('EventsFailed', 1, { profile });
      logger.warn('event not sent', {
        type: what,
        profile,
        reason: error instanceof Error ? `${error.name}: ${error.message}`.slice(0, 300) : 'unexpected error',
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends after a claim; a send that fails within the bound gives the claim back, so the
   * next occurrence tries again.
   */
  async function sendClaimed(
    key: string,
    detailType: DetailType,
    eventDetail: EventDetail,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await send(detailType, eventDetail, signal);
    } catch (error) {
      if (!signal.aborted) await state.release(key, signal).catch(() => undefined);
      throw error;
    }
  }

  return {
    refreshFailed(target, failure, until) {
      return guarded(
        'Token Refresh Failed',
        target.profile,
        async (signal) => {
          const key = stateKey('refresh', target.profile, target.subject, target.scope);
          const record = await state.addFailure(key, clock(), { code: failure.code }, signal);
          const failures = Number(record['failures']);
          if (failures < notify(target.profile).refreshFailures) return;
          signal.throwIfAborted();
          if (!(await state.markNotified(key, clock(), signal))) return;
          const eventDetail = detail(target.profile, target.subject, {
            scope: target.scope,
            code: failure.code,
            error: errorCode(failure.error),
            failures,
            retryAfter: failure.retryAfter,
            since: new Date(Number(record['since'])).toISOString(),
          });
          try {
            await send('Token Refresh Failed', eventDetail, signal);
          } catch (error) {
            if (!signal.aborted) await state.unmarkNotified(key, signal).catch(() => undefined);
            throw error;
          }
        },
        until,
      );
    },

    refreshSucceeded(target, until) {
      return guarded(
        'Token Refresh Recovered',
        target.profile,
        async (signal) => {
          const held = await state.release(
            stateKey('refresh', target.profile, target.subject, target.scope),
            signal,
          );
          if (held?.['notified'] === undefined) return;
          await send(
            'Token Refresh Recovered',
            detail(target.profile, target.subject, {
              scope: target.scope,
              failures: Number(held['failures']),
              since: new Date(Number(held['since'])).toISOString(),
            }),
            signal,
          );
        },
        until,
      );
    },

    consentRequired(fields) {
      return guarded('Consent Required', fields.profile, async (signal) => {
        const key = stateKey('consent', fields.profile, fields.subject);
        if (!(await state.claim(key, { since: clock() }, signal))) return;
        await sendClaimed(
          key,
          'Consent Required',
          detail(fields.profile, fields.subject, {
            scope: fields.scope,
            code: 'ERR_CONSENT_REQUIRED',
            // The URL carries the subject in its query: left out where the profile hides it.
            consentUrl: notify(fields.profile).subject === 'fingerprint' ? undefined : fields.consentUrl,
          }),
          signal,
        );
      });
    },

    consentGranted(fields) {
      return guarded('Consent Granted', fields.profile, async (signal) => {
        const held = await state.release(stateKey('consent', fields.profile, fields.subject), signal);
        const since = held?.['since'];
        await send(
          'Consent Granted',
          detail(fields.profile, fields.subject, {
            ...(since !== undefined && { since: new Date(Number(since)).toISOString() }),
          }),
          signal,
        );
      });
    },

    certificateExpiry(profile, notAfter) {
      return guarded('Certificate Expiring', profile, async (signal) => {
        const daysLeft = Math.floor((notAfter.getTime() - clock()) / DAY_MS);
        // The lowest threshold crossed: a first look at 5 days left announces 7, not 30 and 7.
        const crossed = notify(profile).certificateDays.filter((days) => daysLeft <= days);
        const threshold = crossed.at(-1);
        if (threshold === undefined) return;
        // The step runs every minute: a threshold this instance knows announced costs no write.
        const mark = `${notAfter.getTime()}@${threshold}`;
        if (announced.get(profile) === mark) return;
        const key = stateKey('certificate', profile);
        if (await state.crossThreshold(key, notAfter.getTime(), threshold, signal))
          await sendClaimed(
            key,
            'Certificate Expiring',
            detail(profile, undefined, { notAfter: notAfter.toISOString(), daysLeft, threshold }),
            signal,
          );
        announced.set(profile, mark);
      });
    },

    keyRejected(fields) {
      return guarded('Key Rejected', fields.profile, async (signal) => {
        // This instance saw the rejection: its next token for the profile re-arms at once.
        rearmed.delete(fields.profile);
        const key = stateKey('key', fields.profile);
        if (!(await state.claim(key, { since: clock() }, signal))) return;
        await sendClaimed(
          key,
          'Key Rejected',
          detail(fields.profile, undefined, {
            code: 'ERR_UPSTREAM_REJECTED',
            error: errorCode(fields.error),
            stage: fields.stage,
          }),
          signal,
        );
      });
    },

    async tokenObtained(profile, subject) {
      const now = clock();
      let subjects = rearmed.get(profile);
      const last = subjects?.get(subject);
      if (last !== undefined && now - last < REARM_INTERVAL_MS) return;
      if (subjects === undefined) rearmed.set(profile, (subjects = new Map()));
      if (subjects.size >= MAX_REARM_ENTRIES) subjects.clear();
      subjects.set(subject, now);
      await guarded('Key Rejected', profile, async (signal) => {
        // Both settle before the call returns (a rejection of one must not leave the other running).
        const released = await Promise.allSettled([
          state.release(stateKey('key', profile), signal),
          state.release(stateKey('consent', profile, subject), signal),
        ]);
        for (const outcome of released) if (outcome.status === 'rejected') throw outcome.reason;
      });
    },
  };
}
