/**
 * The `POST /token` body (DESIGN.md "HTTP API"), validated with zod at the edge.
 */
// A namespace import: the named `z` export drags all of zod, its locales included, into bundles.
import * as z from 'zod';
import { MAX_SUBJECT_LENGTH } from '../auth/subject.ts';
import { RequestError } from '../errors.ts';

/** Largest `minTtl` a caller may ask for, in seconds. */
export const MAX_MIN_TTL = 3600;

/** Body of `POST /token`: unknown fields are refused. */
export const tokenRequestSchema = z.strictObject({
  profile: z.string().min(1).max(128),
  subject: z.string().min(1).max(MAX_SUBJECT_LENGTH).optional(),
  scope: z.string().min(1).max(2048).optional(),
  minTtl: z.number().int().min(0).max(MAX_MIN_TTL).optional(),
  rejected: z
    .string()
    .regex(/^[0-9a-f]{8}$/)
    .optional(),
});

/** A validated token request body. */
export type TokenRequestBody = z.infer<typeof tokenRequestSchema>;

const FIELDS = Object.keys(tokenRequestSchema.shape).join(', ');

/**
 * Validates a parsed body.
 * @throws RequestError ERR_INVALID_REQUEST naming the first offending field
 */
export function parseTokenRequest(body: unknown): TokenRequestBody {
  const result = tokenRequestSchema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new RequestError('ERR_INVALID_REQUEST', `the body must be {${FIELDS}}`);
  if (issue.code === 'unrecognized_keys') {
    throw new RequestError(
      'ERR_INVALID_REQUEST',
      `unknown field ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}; allowed fields: ${FIELDS}`,
    );
  }
  const where = issue.path.length > 0 ? issue.path.join('.') : 'body';
  throw new RequestError('ERR_INVALID_REQUEST', `${where}: ${describe(where)}`);
}

function describe(field: string): string {
  switch (field) {
    case 'profile':
      return 'required, a profile name (1 to 128 characters)';
    case 'subject':
      return `must be a non-empty string of at most ${MAX_SUBJECT_LENGTH} characters`;
    case 'scope':
      return 'must be a non-empty, space-separated string';
    case 'minTtl':
      return `must be an integer number of seconds from 0 to ${MAX_MIN_TTL}`;
    case 'rejected':
      return 'must be the fingerprint of the refused token: the first 8 hex digits (lower case) of its SHA-256';
    default:
      return `must be a JSON object {${FIELDS}}`;
  }
}
