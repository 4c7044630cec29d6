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
import { beforeDeadline, Deadlines } from './deadlines.ts';
import { isJsonMediaType, MAX_BODY_BYTES, parseJsonBytes } from './json-body.ts';
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
  const deadlines = new Deadlines();
  const bodies = new RememberedBodies();
  return async (call) => {
    let caller: Caller | undefined;
    let parsed: unknown;
    try {
      caller = callerFromEvent({ requestContext: { authorizer: call.authorizer } as HttpRequestContext });
      const contentType = call.headers['content-type'];
      // A body text validated before (a caller asking again) is answered from memory; the
      // media type and size are checked first either way, as the stack checks them.
      let body = bodies.get(contentType, call.body, maxBytes);
      if (body === undefined) {
        parsed = parseJsonBytes(contentType, call.body, maxBytes);
        body = parseTokenRequest(parsed);
        bodies.remember(call.body, body);
      }
      parsed = body;
      const answer = answerTokenRequest(broker, body, caller, call.headers['dpop'], {
        requestId: call.requestId,
        sourceIp: call.sourceIp,
      });
      const result = await beforeDeadline(
        deadlines,
        answer,
        call.remainingMs() - TIMEOUT_EARLY_MS,
        earlyTimeoutError,
      );
      // As the stack's `after` step: a flush that throws fails the request like any error.
      metrics?.flush?.();
      return withStackHeaders(result);
    } catch (err) {
      const failed = failedRequest(logger, err, {
        caller: caller?.id,
        profile: profileOfBody(parsed),
        route: TOKEN_ROUTE,
      });
      // As the stack's `onError` step: a flush that throws here rejects the request.
      metrics?.flush?.();
      return withStackHeaders(failed);
    }
  };
}

/** Bodies remembered per route, and the longest remembered (a token request is well under it). */
export const REMEMBERED_BODIES_LIMIT = 256;
export const REMEMBERED_BODY_BYTES = 1024;

/**
 * Valid token request bodies by their exact text, frozen, at most
 * {@link REMEMBERED_BODIES_LIMIT} (the oldest goes first). Only a body that passed every
 * check is remembered, so a remembered text stands for the same checks passing again.
 */
export class RememberedBodies {
  readonly #bodies = new Map<string, TokenRequestBody>();

  /** The remembered body for these bytes, once the media type and size pass (else undefined: check in full). */
  get(contentType: string | undefined, bytes: Buffer, maxBytes: number): TokenRequestBody | undefined {
    if (bytes.length > REMEMBERED_BODY_BYTES || bytes.length > maxBytes || this.#bodies.size === 0)
      return undefined;
    if (contentType === undefined || !isJsonMediaType(contentType)) return undefined;
    return this.#bodies.get(bytes.toString('latin1'));
  }

  get size(): number {
    return this.#bodies.size;
  }

  remember(bytes: Buffer, body: TokenRequestBody): void {
    if (bytes.length > REMEMBERED_BODY_BYTES) return;
    const text = bytes.toString('latin1');
    if (this.#bodies.has(text)) return;
    if (this.#bodies.size >= REMEMBERED_BODIES_LIMIT) this.#bodies.delete(this.#bodies.keys().next().value!);
    this.#bodies.set(text, Object.freeze({ ...body }));
  }
}
