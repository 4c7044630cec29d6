/**
 * `POST /token` (DESIGN.md "HTTP API") as plain functions: the answer to one validated
 * request, and the whole route for a request that did not arrive as an API Gateway event
 * (the local server). The Lambda handler runs the same answer inside the middy stack
 * (stack.ts); {@link createDirectTokenRoute} does what that stack does, in the same order,
 * with the same errors, log lines and headers, without building an event per request.
 */
import type { Broker, Caller, FlushableMetrics, Logger } from '../types.ts';
import { failedRequest, profileOfBody } from './error-handler.ts';
import { jsonResult, type HttpRequestContext, type HttpResult } from './event.ts';
import { callerFromEvent } from './identity.ts';
import { MAX_BODY_BYTES, parseJsonBytes } from './json-body.ts';
import { earlyTimeoutError, TIMEOUT_EARLY_MS, withStackHeaders } from './stack.ts';
import { parseTokenRequest, type TokenRequestBody } from './token-request.ts';

/** The route key of the token request, as API Gateway and the local server name it. */
export const TOKEN_ROUTE = 'POST /token';

/** Where a token request came from, for the audit line. */
export interface TokenRequestOrigin {
  readonly requestId?: string | undefined;
  readonly sourceIp?: string | undefined;
}

/**
 * One `broker.issue()` for a validated body, answered as the 200 JSON: the provider's
 * passed-on fields first (the broker's own fields win a name clash), and the provider's
 * `DPoP-Nonce` (RFC 9449 §8.2) as a header for the caller's next proof.
 * @throws whatever `broker.issue` throws
 */
export async function answerTokenRequest(
  broker: Broker,
  body: TokenRequestBody,
  caller: Caller,
  dpop: string | undefined,
  origin: TokenRequestOrigin,
): Promise<HttpResult> {
  const { profile, subject, scope, minTtl, rejected } = body;
  const issued = await broker.issue({ profile, subject, scope, minTtl, rejected, dpop, caller, origin });
  return jsonResult(
    200,
    {
      ...issued.fields,
      access_token: issued.access_token,
      token_type: issued.token_type,
      expires_in: issued.expires_in,
      expires_at: issued.expires_at,
      ...(issued.scope === undefined ? {} : { scope: issued.scope }),
    },
    issued.dpopNonce === undefined ? {} : { 'DPoP-Nonce': issued.dpopNonce },
  );
}

/** A token request as the local server received it. */
export interface DirectTokenCall {
  /** Header names lower-case, repeated headers joined with `,`. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body's bytes as received. */
  readonly body: Buffer;
  /** Who the server identified, as it would be put in the event's `requestContext`. */
  readonly authorizer: HttpRequestContext['authorizer'];
  readonly requestId: string;
  readonly sourceIp: string;
  /** Milliseconds left before the request's deadline (a Lambda context's `getRemainingTimeInMillis`). */
  readonly remainingMs: () => number;
}

/** What {@link createDirectTokenRoute} needs: the same as the token handler, the broker already built. */
export interface DirectTokenDeps {
  readonly broker: Broker;
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
  /** Body size limit; default {@link MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number | undefined;
}

/**
 * `POST /token` for the local server: the caller (403 before the body is read), the JSON
 * body (415, 413, 400), its fields (400), one `broker.issue()` raced against the deadline,
 * then the error log line and response of any failure, the stack's headers, and the
 * metrics flushed: what the token handler's middy stack does for an API Gateway event.
 */
export function createDirectTokenRoute(
  deps: DirectTokenDeps,
): (call: DirectTokenCall) => Promise<HttpResult> {
  const { broker, logger, metrics } = deps;
  const maxBytes = deps.maxBodyBytes ?? MAX_BODY_BYTES;
  return async (call) => {
    const context = { authorizer: call.authorizer } as HttpRequestContext;
    let caller: Caller | undefined;
    let parsed: unknown;
    try {
      caller = callerFromEvent({ requestContext: context });
      parsed = parseJsonBytes(call.headers['content-type'], call.body, maxBytes);
      const body = parseTokenRequest(parsed);
      const answer = answerTokenRequest(broker, body, caller, call.headers['dpop'], {
        requestId: call.requestId,
        sourceIp: call.sourceIp,
      });
      return withStackHeaders(await beforeDeadline(answer, call.remainingMs() - TIMEOUT_EARLY_MS));
    } catch (err) {
      return withStackHeaders(
        failedRequest(logger, err, {
          caller: caller?.id,
          profile: profileOfBody(parsed),
          route: TOKEN_ROUTE,
        }),
      );
    } finally {
      metrics?.flush?.();
    }
  };
}

/**
 * `answer`, or {@link earlyTimeoutError} once `ms` have passed (the answer goes on,
 * unawaited, as under middy; a timer is cleared as soon as either settles).
 */
async function beforeDeadline(answer: Promise<HttpResult>, ms: number): Promise<HttpResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(earlyTimeoutError()), Math.max(0, ms));
  });
  try {
    return await Promise.race([answer, late]);
  } finally {
    clearTimeout(timer);
  }
}
