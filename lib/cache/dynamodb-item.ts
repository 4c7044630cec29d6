/**
 * The layout of one shared-cache item in DynamoDB, and its conversions.
 *
 * | attribute | type | holds |
 * | --- | --- | --- |
 * | `pk` | S | base64url SHA-256 of the cache key (partition key) |
 * | `key` | S | the cache key itself (not secret) |
 * | `profile`, `issuer`, `subject`, `audience`, `grant` | S | the descriptor, for the schedule |
 * | `scopes` | L of S | the descriptor's scopes |
 * | `token` | B | the {@link CachedToken}, sealed (see `seal.ts`) with `pk` as associated data |
 * | `expiresAt` | N | token expiry, epoch ms, in clear for decisions |
 * | `lastUsedAt` | N | last time a caller was served from it, epoch ms |
 * | `ttl` | N | epoch seconds after which DynamoDB may delete the item |
 * | `lease`, `leaseUntil` | S, N | who refreshes it, until when (epoch ms) |
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { createHash } from 'node:crypto';
import type { CachedToken, TokenDescriptor } from './types.ts';

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
  };
}

/** The `SET` clauses matching {@link descriptorValues}. */
export const DESCRIPTOR_SET =
  '#key = :key, profile = :profile, issuer = :issuer, subject = :subject, ' +
  'audience = :audience, #grant = :grant, scopes = :scopes';

/** Names that are DynamoDB reserved words, or may become one, go through placeholders. */
export const ATTRIBUTE_NAMES: Readonly<Record<string, string>> = {
  '#key': 'key',
  '#grant': 'grant',
  '#token': 'token',
  '#ttl': 'ttl',
  '#lease': 'lease',
};

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
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(plaintext));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
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
  if (key === undefined || profile === undefined || issuer === undefined || subject === undefined) {
    return undefined;
  }
  if (audience === undefined || grant === undefined || scopes === undefined) return undefined;
  if (scopes.some((scope) => scope === undefined)) return undefined;
  return { key, descriptor: { profile, issuer, subject, audience, grant, scopes: scopes as string[] } };
}
