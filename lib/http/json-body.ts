/**
 * A JSON body parser with a size limit. Unlike a generic parser it answers with the
 * broker's own codes: `ERR_BODY_TOO_LARGE` (413) past the limit, `ERR_INVALID_REQUEST`
 * (400) for a missing body or malformed JSON, `ERR_UNSUPPORTED_MEDIA_TYPE` (415) unless
 * the request says `Content-Type: application/json`: a body without one is never read as
 * JSON, so a page in a browser cannot post a token request as `text/plain` (a "simple"
 * request that needs no CORS preflight).
 */
import type { MiddlewareObj } from '@middy/core';
import { RequestError } from '../errors.ts';
import { oneLineText } from '../text.ts';
import type { HttpEvent } from './event.ts';

/** Largest request body accepted, in bytes. A token request is well under 1 KiB. */
export const MAX_BODY_BYTES = 16 * 1024;

/** Options of {@link jsonBody}. */
export interface JsonBodyOptions {
  /** Largest body accepted, in bytes; default {@link MAX_BODY_BYTES}. */
  readonly maxBytes?: number;
}

/** The event once parsed: `body` holds the JSON value. */
export type ParsedEvent = Omit<HttpEvent, 'body'> & { body: unknown };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Parses `event.body` (base64 when `isBase64Encoded`) as JSON into `event.body`.
 * Expects lower-cased header names (run after the header normalizer).
 * @throws RequestError ERR_UNSUPPORTED_MEDIA_TYPE, ERR_BODY_TOO_LARGE, ERR_INVALID_REQUEST
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-15.5.16
 */
export function parseJsonBody(event: HttpEvent, maxBytes: number = MAX_BODY_BYTES): unknown {
  const contentType = event.headers?.['content-type'];
  // The media type is checked before the body is decoded at all.
  checkJsonType(contentType);
  const raw = event.body ?? '';
  return parseCheckedBytes(
    event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8'),
    maxBytes,
  );
}

/** Whether a `Content-Type` value names JSON (`application/json`, `application/*+json`). */
export function isJsonMediaType(contentType: string): boolean {
  return JSON_TYPE.test(contentType);
}

function checkJsonType(contentType: string | undefined): void {
  if (contentType === undefined || !isJsonMediaType(contentType)) {
    const got = contentType === undefined ? 'none' : JSON.stringify(oneLineText(contentType, 80));
    throw new RequestError(
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      `the body must be JSON; send Content-Type: application/json (got ${got})`,
    );
  }
}

/**
 * {@link parseJsonBody} for a body already in bytes (the local server's request), with
 * the same checks in the same order and the same errors.
 * @throws RequestError ERR_UNSUPPORTED_MEDIA_TYPE, ERR_BODY_TOO_LARGE, ERR_INVALID_REQUEST
 */
export function parseJsonBytes(
  contentType: string | undefined,
  bytes: Buffer,
  maxBytes: number = MAX_BODY_BYTES,
): unknown {
  checkJsonType(contentType);
  return parseCheckedBytes(bytes, maxBytes);
}

/** The size, emptiness and JSON checks of a body whose media type passed. */
function parseCheckedBytes(bytes: Buffer, maxBytes: number): unknown {
  if (bytes.length > maxBytes) {
    throw new RequestError(
      'ERR_BODY_TOO_LARGE',
      `the body is larger than ${maxBytes} bytes; send only {profile, subject, scope, minTtl}`,
    );
  }
  const text = bytes.toString('utf8').trim();
  if (text === '') {
    throw new RequestError(
      'ERR_INVALID_REQUEST',
      'the body is empty; send a JSON object such as {"profile":"NAME"}',
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RequestError(
      'ERR_INVALID_REQUEST',
      'the body is not valid JSON; send a JSON object such as {"profile":"NAME"}',
      {
        cause: err,
      },
    );
  }
}

/** middy middleware running {@link parseJsonBody} before the handler. */
export function jsonBody(options: JsonBodyOptions = {}): MiddlewareObj<HttpEvent> {
  const maxBytes = options.maxBytes ?? MAX_BODY_BYTES;
  if (!Number.isInteger(maxBytes) || maxBytes <= 0)
    throw new TypeError('jsonBody: maxBytes must be a positive integer');
  return {
    before: (request) => {
      (request.event as ParsedEvent).body = parseJsonBody(request.event, maxBytes);
    },
  };
}
