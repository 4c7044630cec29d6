/**
 * The layout of one shared-cache item in DynamoDB, and its conversions.
 *
 * | attribute | type | holds |
 * | --- | --- | --- |
 * | `pk` | S | base64url SHA-256 of the cache key (partition key) |
 * | `key` | S | the cache key itself (not secret) |
 * | `profile`, `issuer`, `subject`, `audience`, `grant` | S | the descriptor, for the schedule |
 * | `scopes` | L of S | the descriptor's scopes |
 * | `endpoint`, `variant` | S | token endpoint (method and URL); digest of headers and parameters |
 * | `token` | B | the {@link CachedToken}, sealed (see `seal.ts`) with `pk` as associated data |
 * | `expiresAt`, `obtainedAt` | N | token expiry and receipt, epoch ms, in clear for decisions |
 * | `lastUsedAt` | N | last time a caller was served from it, epoch ms |
 * | `ttl` | N | epoch seconds after which DynamoDB may delete the item |
 * | `lease`, `leaseUntil` | S, N | which acquisition of a lease refreshes it (fencing), until when (epoch ms) |
 * | `forcedAt` | N | when a caller's `rejected` last forced a refresh of the key (epoch ms), the fleet's rate limit |
 * | `consent`, `consentUntil` | B, N | a remembered `consent_required` answer, sealed with `pk#consent`, and until when |
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import type { CachedToken, SharedConsent, TokenDescriptor } from './types.ts';

/** A DynamoDB item as the low-level client reads and writes it. */
export type Item = Record<string, AttributeValue>;

/**
 * How long after a token's expiry DynamoDB may delete its item. Long enough that
 * recently used entries stay visible to the scheduled refresh; correctness never
 * depends on the deletion (DynamoDB deletes late, dynalite never).
 */
export const TTL_GRACE_SECONDS = 24 * 60 * 60;

/** The partition key of `key`: base64url SHA-256, so every key has the same short shape. */
export function itemKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('base64url');
}

/** The `ttl` attribute value (epoch seconds) for something that stops mattering at `epochMs`. */
export function ttlAfter(epochMs: number): string {
  return String(Math.ceil(epochMs / 1000) + TTL_GRACE_SECONDS);
}

/** Descriptor and cache-key attributes, as `SET` values keyed by placeholder. */
export function descriptorValues(key: string, descriptor: TokenDescriptor): Item {
  return {
    ':key': { S: key },
    ':profile': { S: descriptor.profile },
    ':issuer': { S: descriptor.issuer },
    ':subject': { S: descriptor.subject },
    ':audience': { S: descriptor.audience },
    ':grant': { S: descriptor.grant },
    ':scopes': { L: descriptor.scopes.map((scope) => ({ S: scope })) },
    ':endpoint': { S: descriptor.endpoint },
    ':variant': { S: descriptor.variant },
  };
}

/** The `SET` clauses matching {@link descriptorValues}. */
export const DESCRIPTOR_SET =
  '#key = :key, profile = :profile, issuer = :issuer, subject = :subject, ' +
  'audience = :audience, #grant = :grant, scopes = :scopes, endpoint = :endpoint, variant = :variant';

/** Names that are DynamoDB reserved words, or may become one, go through placeholders. */
export const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '#key': 'key',
  '#grant': 'grant',
  '#token': 'token',
  '#ttl': 'ttl',
  '#lease': 'lease',
  '#consent': 'consent',
};

/** Associated data of a sealed consent answer: never opens as a token, nor a token as one. */
export function consentData(pk: string): string {
  return `${pk}#consent`;
}

/** The plaintext of a remembered consent answer (the consent URL is not secret; sealed all the same). */
export function encodeConsent(consent: SharedConsent): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      until: consent.until,
      consentUrl: consent.consentUrl ?? null,
      error: consent.error ?? null,
      errorDescription: consent.errorDescription ?? null,
    }),
  );
}

/** The JSON object an unsealed payload holds, or undefined when it holds none. */
function jsonObjectOf(plaintext: Uint8Array): object | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(plaintext));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null ? value : undefined;
}

/** A consent answer from its unsealed payload, or undefined when it is not one {@link encodeConsent} made. */
export function decodeConsent(plaintext: Uint8Array): SharedConsent | undefined {
  const value = jsonObjectOf(plaintext);
  if (value === undefined) return undefined;
  const { until, consentUrl, error, errorDescription } = value as Record<string, unknown>;
  const optional = (field: unknown): field is string | null => field === null || typeof field === 'string';
  if (typeof until !== 'number' || !optional(consentUrl) || !optional(error) || !optional(errorDescription))
    return undefined;
  return {
    until,
    consentUrl: consentUrl ?? undefined,
    error: error ?? undefined,
    errorDescription: errorDescription ?? undefined,
  };
}

/** The plaintext that gets sealed: the whole token, so the clear `expiresAt` is only advisory. */
export function encodeToken(token: CachedToken): Uint8Array {
  const payload = {
    accessToken: token.accessToken,
    tokenType: token.tokenType,
    expiresAt: token.expiresAt,
    scope: token.scope ?? null,
    obtainedAt: token.obtainedAt,
    ...(token.fields !== undefined && Object.keys(token.fields).length > 0 && { fields: token.fields }),
  };
  return new TextEncoder().encode(JSON.stringify(payload));
}

/** The token from an unsealed payload, or undefined when it is not one {@link encodeToken} made. */
export function decodeToken(plaintext: Uint8Array): CachedToken | undefined {
  const value = jsonObjectOf(plaintext);
  if (value === undefined) return undefined;
  const { accessToken, tokenType, expiresAt, scope, obtainedAt, fields } = value as Record<string, unknown>;
  if (typeof accessToken !== 'string' || typeof tokenType !== 'string') return undefined;
  if (typeof expiresAt !== 'number' || typeof obtainedAt !== 'number') return undefined;
  if (scope !== null && typeof scope !== 'string') return undefined;
  const token = { accessToken, tokenType, expiresAt, scope: scope ?? undefined, obtainedAt };
  if (fields === undefined) return token;
  if (!isFieldRecord(fields)) return undefined;
  return { ...token, fields };
}

function isFieldRecord(value: unknown): value is Record<string, string | number | boolean> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.values(value).every((v) => ['string', 'number', 'boolean'].includes(typeof v));
}

function text(item: Item, name: string): string | undefined {
  return item[name]?.S;
}

/** A number attribute, or undefined when absent or not a number. */
export function numberAttribute(item: Item, name: string): number | undefined {
  const raw = item[name]?.N;
  if (raw === undefined) return undefined;
  const value = Number(raw);
  return Number.isFinite(value) ? value : undefined;
}

/** The cache key and descriptor stored in an item, or undefined when the item lacks them. */
export function decodeDescriptor(item: Item): { key: string; descriptor: TokenDescriptor } | undefined {
  const key = text(item, 'key');
  const profile = text(item, 'profile');
  const issuer = text(item, 'issuer');
  const subject = text(item, 'subject');
  const audience = text(item, 'audience');
  const grant = text(item, 'grant');
  const scopes = item['scopes']?.L?.map((value) => value.S);
  const endpoint = text(item, 'endpoint');
  const variant = text(item, 'variant');
  if (key === undefined || profile === undefined || issuer === undefined || subject === undefined) {
    return undefined;
  }
  if (audience === undefined || grant === undefined || scopes === undefined) return undefined;
  if (scopes.some((scope) => scope === undefined)) return undefined;
  // Items written before the key covered the endpoint: their keys no longer match any request.
  if (endpoint === undefined || variant === undefined) return undefined;
  return {
    key,
    descriptor: { profile, issuer, subject, audience, grant, scopes: scopes as string[], endpoint, variant },
  };
}
