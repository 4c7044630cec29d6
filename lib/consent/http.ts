/**
 * HTTP shapes of the two consent routes, shared by their Lambda handlers and the local
 * server: the 302 of the start route and the HTML page of the callback.
 */
import type { HttpEvent, HttpResult } from '../http/event.ts';
import type { FlushableMetrics, Lazy } from '../http/stack.ts';
import type { Logger } from '../types.ts';
import type { ConsentCallbackInput, ConsentFlow, ConsentStart, ConsentStartInput } from './flow.ts';
import type { ConsentOutcome } from './outcome.ts';
import { CONSENT_PAGE_CSP, renderConsentPage } from './page.ts';
import { CONSENT_COOKIE_NAME } from './state.ts';

/** What each consent route's handler needs; `flow` may be built lazily (cold start). */
export interface ConsentHandlerDeps {
  readonly flow: Lazy<ConsentFlow>;
  readonly logger: Logger;
  readonly metrics?: FlushableMetrics | undefined;
}

/** Content type of the callback page. */
export const HTML_CONTENT_TYPE = 'text/html; charset=utf-8';

/** The start route's request: `{profile}` from the path, `subject` from the query. */
export function startInput(
  event: Pick<HttpEvent, 'pathParameters' | 'queryStringParameters'>,
): ConsentStartInput {
  return { profile: event.pathParameters?.['profile'], subject: event.queryStringParameters?.['subject'] };
}

/** The callback's request: its query and the cookies (`cookies` of payload 2.0, else the header). */
export function callbackInput(
  event: Pick<HttpEvent, 'queryStringParameters' | 'cookies' | 'headers'>,
): ConsentCallbackInput {
  return {
    query: event.queryStringParameters ?? {},
    cookies: event.cookies && event.cookies.length > 0 ? event.cookies : event.headers?.['cookie'],
  };
}

/** The 302 to the provider, with the state cookie. */
export function startResult(start: ConsentStart): HttpResult {
  return {
    statusCode: 302,
    headers: { Location: start.location, 'Content-Type': 'text/plain; charset=utf-8' },
    cookies: [start.cookie],
    body: '',
  };
}

/** The callback page, with the state cookie cleared (it is single use). */
export function outcomeResult(outcome: ConsentOutcome, cookiePath: string): HttpResult {
  return {
    statusCode: outcome.status,
    headers: { 'Content-Type': HTML_CONTENT_TYPE, 'Content-Security-Policy': CONSENT_PAGE_CSP },
    cookies: [`${CONSENT_COOKIE_NAME}=; Path=${cookiePath}; Max-Age=0; HttpOnly; Secure; SameSite=Lax`],
    body: renderConsentPage(outcome.page),
  };
}
