/**
 * The audit line of an issued token: one schema for every way a token leaves the broker
 * (HTTP API, local server, CLI). The token itself never appears, only its fingerprint.
 */
import type { Caller } from '../types.ts';

/** Message of the audit line (the `message` key of the JSON log line). */
export const AUDIT_MESSAGE = 'token issued';

/**
 * The fields of the audit line, always all present (`null` when unknown):
 * `requestId` (API Gateway's, else none), `caller` and `callerKind`, `sourceIp`, `profile`,
 * `subject`, `scope` (granted), `cached`, `fingerprint` (first 8 hex of the token's SHA-256).
 */
export interface AuditFields {
  readonly [field: string]: string | boolean | null;
  readonly requestId: string | null;
  readonly caller: string;
  readonly callerKind: Caller['kind'];
  readonly sourceIp: string | null;
  readonly profile: string;
  readonly subject: string | null;
  readonly scope: string | null;
  readonly cached: boolean;
  readonly fingerprint: string;
}

/** Where a request came from, for the audit line. */
export interface RequestOrigin {
  readonly requestId?: string | undefined;
  readonly sourceIp?: string | undefined;
}

/** Builds the audit fields of one issued token, in the line's order. */
export function auditFields(
  caller: Caller,
  origin: RequestOrigin | undefined,
  profile: string,
  subject: string | undefined,
  scope: string | undefined,
  cached: boolean,
  fingerprint: string,
): AuditFields {
  return {
    requestId: origin?.requestId ?? null,
    caller: caller.id,
    callerKind: caller.kind,
    sourceIp: origin?.sourceIp ?? null,
    profile,
    subject: subject ?? null,
    scope: scope ?? null,
    cached,
    fingerprint,
  };
}
