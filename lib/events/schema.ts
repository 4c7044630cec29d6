/**
 * The events the broker sends to the team that owns a profile (EventBridge `source:
 * token-broker`): their detail types and the versioned `detail` they carry. A detail holds
 * names, codes, counts and times; never a token, assertion, secret, password or key.
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html
 */
import { hash } from 'node:crypto';

/** The `source` of every event. */
export const EVENT_SOURCE = 'token-broker';

/** The version of the `detail` schema; a change that removes or renames a field bumps it. */
export const DETAIL_VERSION = '1';

/** The detail types, as EventBridge rules match them. */
export const DETAIL_TYPES = [
  'Token Refresh Failed',
  'Token Refresh Recovered',
  'Consent Required',
  'Consent Granted',
  'Certificate Expiring',
  'Key Rejected',
] as const;

/** One of {@link DETAIL_TYPES}. */
export type DetailType = (typeof DETAIL_TYPES)[number];

/** The `detail` of an event (docs/operations.md "Events"). */
export interface EventDetail {
  readonly schemaVersion: typeof DETAIL_VERSION;
  readonly profile: string;
  /** The subject, unless the profile's `notify.subject` is `fingerprint`. */
  readonly subject?: string;
  /** First 8 hex digits of the subject's SHA-256, when `notify.subject` is `fingerprint`. */
  readonly subjectFingerprint?: string;
  readonly scope?: string;
  /** The broker's error code, e.g. `ERR_UPSTREAM_REJECTED`. */
  readonly code?: string;
  /** The provider's OAuth `error` (RFC 6749 §5.2), never its description. */
  readonly error?: string;
  /** Consecutive failures so far. */
  readonly failures?: number;
  /** Seconds the provider asked to wait (`Retry-After`). */
  readonly retryAfter?: number;
  /** When the condition began (ISO 8601). */
  readonly since?: string;
  /** The broker's consent-start URL for the profile and subject; absent with `notify.subject: fingerprint`. */
  readonly consentUrl?: string;
  /** The certificate's expiry (ISO 8601). */
  readonly notAfter?: string;
  readonly daysLeft?: number;
  /** The `notify.certificateDays` threshold crossed. */
  readonly threshold?: number;
  /** What was tried last before a key was given up: `key`, `reopened` or `pending` (AWSPENDING). */
  readonly stage?: string;
  /** When the broker sent the event (ISO 8601). */
  readonly at: string;
}

/** An event on its way to a sink. */
export interface BrokerEvent {
  readonly detailType: DetailType;
  readonly detail: EventDetail;
}

/** First 8 hex digits of the SHA-256 of `subject`, as events name a subject when told to. */
export function subjectFingerprint(subject: string): string {
  return hash('sha256', subject, 'hex').slice(0, 8);
}

/** The subject field of a detail: the subject itself, or its fingerprint with `fingerprint`. */
export function subjectField(
  subject: string | undefined,
  mode: 'plain' | 'fingerprint',
): Pick<EventDetail, 'subject' | 'subjectFingerprint'> {
  if (subject === undefined) return {};
  return mode === 'fingerprint' ? { subjectFingerprint: subjectFingerprint(subject) } : { subject };
}

/**
 * The event as EventBridge delivers it to a rule's target (`version: '0'`), which the
 * JSON-lines sink writes, so a rule's event pattern can be tried on the lines.
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/ref/overiew-event-structure.html
 */
export interface DeliveredEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': DetailType;
  readonly source: typeof EVENT_SOURCE;
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: EventDetail;
}
