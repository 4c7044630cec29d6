/**
 * SigV4 verification for the local server, so callers can be tested against the same
 * signing API Gateway requires (`authorizer: aws_iam`) without an AWS account. Secrets
 * come from the configuration (`server.sigv4`); AWS is never called.
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { RequestError } from '../errors.ts';
import { oneLineText } from '../text.ts';
import type { Caller } from '../types.ts';

/** How far `x-amz-date` may be from the server's clock, as AWS allows. */
export const SIGV4_MAX_SKEW_MS = 5 * 60 * 1000;

/** The request as the server received it. */
export interface SigV4Request {
  readonly method: string;
  /** The path as sent on the wire (still percent-encoded), without the query. */
  readonly path: string;
  /** Decoded query parameters. */
  readonly query: Readonly<Record<string, string>>;
  /** Header names in any case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** What the verifier needs to know. */
export interface SigV4VerifyOptions {
  readonly region: string;
  readonly service: 'execute-api';
  /** The secret access key of an access key id and the caller (an IAM ARN) it stands for. */
  readonly lookup: (accessKeyId: string) => Promise<{ secret: string; caller: string } | undefined>;
  /** Epoch milliseconds; default `Date.now`. */
  readonly now?: (() => number) | undefined;
  /**
   * The `host` values (`name:port`, lower case) a signature may be made for, as API
   * Gateway accepts only its own domain; a request signed for another host is refused.
   * Required: a verifier that took any signed host would accept a request replayed from
   * elsewhere.
   */
  readonly hosts: ReadonlySet<string>;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 +Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request *, *SignedHeaders=([a-z0-9;._-]+) *, *Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

function refuse(reason: string): RequestError {
  return new RequestError('ERR_UNAUTHENTICATED', `SigV4 authentication failed: ${reason}`);
}

function parseAmzDate(value: string): Date | undefined {
  const m = AMZ_DATE.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * Verifies the request's `Authorization: AWS4-HMAC-SHA256 …` header and returns the
 * caller its access key stands for.
 *
 * Checks, in order: the header's form, service and region of the credential scope,
 * `x-amz-date` (present, signed, same day as the scope, within five minutes of now), that
 * `host` is signed, is one the server answers to, and every signed header is present, `x-amz-content-sha256` against the
 * body, the access key, then the signature recomputed over the signed headers only and
 * compared in constant time.
 *
 * @throws RequestError ERR_UNAUTHENTICATED naming the check that failed (never the
 * expected signature).
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */
export async function verifySigV4(request: SigV4Request, options: SigV4VerifyOptions): Promise<Caller> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;

  const authorization = headers['authorization'];
  if (authorization === undefined || authorization === '')
    throw refuse('missing Authorization header; sign the request with AWS SigV4 for execute-api');
  if (!authorization.startsWith(`${ALGORITHM} `))
    throw refuse(`Authorization header is not ${ALGORITHM}; sign the request with AWS SigV4`);
  const parsed = AUTHORIZATION.exec(authorization.trim());
  if (!parsed)
    throw refuse('malformed Authorization header; expected Credential=, SignedHeaders= and Signature=');
  const [, accessKeyId, scopeDate, region, service, signedList, signature] = parsed as unknown as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];

  if (service !== options.service)
    throw refuse(`credential scope names service "${service}"; sign for "${options.service}"`);
  if (region !== options.region)
    throw refuse(`credential scope names region "${region}"; sign for "${options.region}"`);

  const amzDate = headers['x-amz-date'];
  if (amzDate === undefined) throw refuse('missing x-amz-date header');
  const signingDate = parseAmzDate(amzDate);
  if (!signingDate) throw refuse('x-amz-date is not in the form YYYYMMDDTHHMMSSZ');
  if (amzDate.slice(0, 8) !== scopeDate)
    throw refuse('credential scope date differs from the x-amz-date day');
  const now = (options.now ?? Date.now)();
  if (Math.abs(now - signingDate.getTime()) > SIGV4_MAX_SKEW_MS)
    throw refuse('x-amz-date is more than 5 minutes from the server time; check the clock and sign again');

  const signed = signedList.split(';');
  if (!signed.includes('host')) throw refuse('the host header is not signed');
  if (!signed.includes('x-amz-date')) throw refuse('the x-amz-date header is not signed');
  const signedHeaders: Record<string, string> = {};
  for (const name of signed) {
    const value = headers[name];
    if (value === undefined) throw refuse(`signed header "${name}" is missing from the request`);
    signedHeaders[name] = value;
  }

  const signedHost = (signedHeaders['host'] ?? '').toLowerCase();
  // Without a port the host is the scheme's default: 80 or 443.
  const candidates = /:\d+$/.test(signedHost) ? [signedHost] : [`${signedHost}:80`, `${signedHost}:443`];
  if (!candidates.some((host) => options.hosts.has(host))) {
    const expected = [...options.hosts][0] ?? 'this server';
    throw refuse(`the request is signed for host "${oneLineText(signedHost, 100)}"; sign it for ${expected}`);
  }

  const contentSha256 = headers['x-amz-content-sha256'];
  if (contentSha256 !== undefined) {
    const bodyHash = createHash('sha256').update(request.body, 'utf8').digest('hex');
    if (contentSha256.toLowerCase() !== bodyHash)
      throw refuse('x-amz-content-sha256 does not match the body');
  }

  const credentials = await options.lookup(accessKeyId);
  if (!credentials) throw refuse(`unknown access key id ${accessKeyId}`);

  // Recomputed over the signed headers only; x-amz-security-token, when signed, is among them.
  const signer = new SignatureV4({
    service,
    region,
    credentials: { accessKeyId, secretAccessKey: credentials.secret },
    sha256: Sha256,
    applyChecksum: false,
  });
  const recomputed = await signer.sign(
    {
      method: request.method.toUpperCase(),
      protocol: 'https:',
      hostname: signedHeaders['host'] ?? '',
      path: request.path === '' ? '/' : request.path,
      query: { ...request.query },
      headers: signedHeaders,
      body: request.body,
    },
    { signingDate, signableHeaders: new Set(signed) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(recomputed.headers['authorization'] ?? '')?.[1] ?? '';
  const a = Buffer.from(signature, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  if (a.length !== b.length || !timingSafeEqual(a, b))
    throw refuse(
      'signature does not match; check the secret access key and that the request was not altered',
    );

  return { id: credentials.caller, kind: 'iam' };
}
