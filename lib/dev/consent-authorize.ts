/**
 * The consent side of the development authorization server: an RFC 6749 §4.1
 * authorization endpoint (`GET /authorize` shows a consent screen, `POST /authorize`
 * approves or declines) and the `authorization_code` grant of its token endpoint
 * (`client_secret_basic`, PKCE S256). Approving records consent for (client, subject),
 * which the JWT grant then honours, the way DocuSign behaves.
 *
 * For development and tests only: the "login" is a field the user types a subject into.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OAuthFailure } from './oauth-failure.ts';
import { escapeHtml } from '../consent/page.ts';

/** How long an authorization code may be redeemed, milliseconds (RFC 6749 §4.1.2 suggests 10 min at most). */
export const CODE_TTL_MS = 60_000;
const MAX_CODES = 10_000;
const MAX_FORM_BYTES = 16 * 1024;
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;

/** The client fields the consent endpoints read. */
export interface ConsentClient {
  readonly clientId: string;
  /** Registered redirect URIs, compared character for character. */
  readonly redirectUris?: readonly string[];
  /** Secret of `client_secret_basic` at the token endpoint. */
  readonly clientSecret?: string;
  readonly subjects?: readonly string[];
}

/** Options of {@link createConsentEndpoints}. */
export interface ConsentEndpointOptions {
  readonly clients: ReadonlyMap<string, ConsentClient>;
  readonly grantConsent: (clientId: string, subject: string) => void;
  readonly clock: () => number;
  /** `expires_in` of tokens issued for codes, seconds. */
  readonly tokenTtl: number;
}

interface CodeGrant {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly subject: string;
  readonly scope: string | undefined;
  readonly challenge: string | undefined;
  readonly expiresAt: number;
}

/** The authorization endpoint and the code redemption of the token endpoint. */
export interface ConsentEndpoints {
  /** Serves `GET`/`POST /authorize`. */
  handle(req: IncomingMessage, res: ServerResponse, target: URL): Promise<void>;
  /**
   * Redeems a code (`grant_type=authorization_code`) and returns the token response body.
   * @throws OAuthFailure `invalid_client`, `invalid_grant`, `invalid_request`
   * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
   */
  redeem(
    headers: IncomingMessage['headers'],
    params: URLSearchParams,
    seen: { clientId?: string; subject?: string },
  ): Record<string, string | number>;
}

const esc = escapeHtml;

const PAGE_STYLE =
  'body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2328}' +
  'h1{font-size:1.3rem}label{display:block;margin:1rem 0 .25rem;font-weight:600}' +
  'input[type=text]{width:100%;padding:.4rem;font-size:1rem;box-sizing:border-box}' +
  'button{margin:1rem .5rem 0 0;padding:.5rem 1.2rem;font-size:1rem}dt{font-weight:600}';

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${PAGE_STYLE}</style></head><body><h1>${esc(title)}</h1>${body}</body></html>\n`;
}

function sendHtml(
  res: ServerResponse,
  status: number,
  html: string,
  formOrigins: readonly string[] = [],
): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    // A form POST that redirects elsewhere is checked against form-action too.
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${formOrigins.join(' ')}; frame-ancestors 'none'; base-uri 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
  });
  res.end(html);
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store', 'content-length': 0 });
  res.end();
}

/**
 * Reads a form-urlencoded body of at most `maxBytes`.
 * @throws OAuthFailure `invalid_request` (413) saying `tooLarge` past the limit
 */
export async function readForm(
  req: IncomingMessage,
  maxBytes = MAX_FORM_BYTES,
  tooLarge = 'the form is too large',
): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new OAuthFailure('invalid_request', tooLarge, 413);
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** RFC 6749 §2.3.1 Basic credentials: form-urlencoded id and secret. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const decode = (v: string): string => decodeURIComponent(v.replace(/\+/g, ' '));
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

const REQUEST_FIELDS = [
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'code_challenge',
  'code_challenge_method',
] as const;

/** Creates the consent endpoints over the server's clients and consent records. */
export function createConsentEndpoints(options: ConsentEndpointOptions): ConsentEndpoints {
  const { clients, clock } = options;
  const codes = new Map<string, CodeGrant>();

  /** Checks client and redirect URI; until both are known good, errors are shown, never redirected. */
  function client(params: URLSearchParams): { client: ConsentClient; redirectUri: string } | string {
    const found = clients.get(params.get('client_id') ?? '');
    if (!found) return 'The client_id is not a registered client.';
    const redirectUri = params.get('redirect_uri') ?? '';
    if (!(found.redirectUris ?? []).includes(redirectUri))
      return 'The redirect_uri does not match the one registered for this client.';
    return { client: found, redirectUri };
  }

  function back(redirectUri: string, fields: Record<string, string | undefined>): string {
    const url = new URL(redirectUri);
    for (const [name, value] of Object.entries(fields))
      if (value !== undefined) url.searchParams.set(name, value);
    return url.href;
  }

  /** An error of the request itself, sent back to the (verified) redirect URI (§4.1.2.1). */
  function requestProblem(params: URLSearchParams): { error: string; description: string } | undefined {
    if (params.get('response_type') !== 'code')
      return { error: 'unsupported_response_type', description: 'response_type must be code' };
    const method = params.get('code_challenge_method');
    if (params.get('code_challenge') !== null && method !== 'S256')
      return { error: 'invalid_request', description: 'code_challenge_method must be S256' };
    return undefined;
  }

  function consentScreen(res: ServerResponse, params: URLSearchParams, redirectUri: string, note = ''): void {
    const hidden = REQUEST_FIELDS.map((name) => {
      const value = params.get(name);
      return value === null ? '' : `<input type="hidden" name="${name}" value="${esc(value)}">`;
    }).join('');
    const clientId = params.get('client_id') ?? '';
    const scope = params.get('scope') ?? '';
    const body =
      `<p id="request">The application <strong>${esc(clientId)}</strong> asks to act on your behalf.</p>` +
      `<dl><dt>Scope</dt><dd id="scope">${esc(scope || '(none)')}</dd><dt>Returns to</dt><dd>${esc(redirectUri)}</dd></dl>` +
      (note ? `<p id="note" style="color:#b42318">${esc(note)}</p>` : '') +
      `<form method="post" action="/authorize">${hidden}` +
      `<label for="login">Signed in as (the subject)</label>` +
      `<input type="text" id="login" name="login" required value="${esc(params.get('login') ?? params.get('login_hint') ?? '')}">` +
      `<button type="submit" id="approve" name="decision" value="approve">Approve</button>` +
      `<button type="submit" id="deny" name="decision" value="deny">Deny</button></form>`;
    sendHtml(res, 200, page('Allow access?', body), [new URL(redirectUri).origin]);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, target: URL): Promise<void> {
    const method = req.method ?? 'GET';
    let params: URLSearchParams;
    if (method === 'GET') params = target.searchParams;
    else if (method === 'POST') {
      try {
        params = await readForm(req);
      } catch {
        return sendHtml(
          res,
          400,
          page('Invalid authorization request', '<p id="error">The form could not be read.</p>'),
        );
      }
    } else return sendHtml(res, 405, page('Method not allowed', '<p>Use GET or POST.</p>'));
    const checked = client(params);
    if (typeof checked === 'string')
      return sendHtml(res, 400, page('Invalid authorization request', `<p id="error">${esc(checked)}</p>`));
    const { redirectUri } = checked;
    const state = params.get('state') ?? undefined;
    const problem = requestProblem(params);
    if (problem)
      return redirect(
        res,
        back(redirectUri, { error: problem.error, error_description: problem.description, state }),
      );
    if (method === 'GET') return consentScreen(res, params, redirectUri);

    if (params.get('decision') !== 'approve')
      return redirect(
        res,
        back(redirectUri, {
          error: 'access_denied',
          error_description: 'the user declined the request',
          state,
        }),
      );
    const subject = (params.get('login') ?? '').trim();
    if (subject === '') return consentScreen(res, params, redirectUri, 'Type the subject you sign in as.');
    if (checked.client.subjects && !checked.client.subjects.includes(subject))
      return consentScreen(res, params, redirectUri, `${subject} may not use this application.`);
    options.grantConsent(checked.client.clientId, subject);
    const code = randomBytes(32).toString('base64url');
    if (codes.size >= MAX_CODES) codes.delete(codes.keys().next().value!);
    codes.set(code, {
      clientId: checked.client.clientId,
      redirectUri,
      subject,
      scope: params.get('scope') ?? undefined,
      challenge: params.get('code_challenge') ?? undefined,
      expiresAt: clock() + CODE_TTL_MS,
    });
    redirect(res, back(redirectUri, { code, state }));
  }

  function redeem(
    headers: IncomingMessage['headers'],
    params: URLSearchParams,
    seen: { clientId?: string; subject?: string },
  ): Record<string, string | number> {
    const credentials = basicCredentials(headers['authorization']);
    if (!credentials)
      throw new OAuthFailure('invalid_client', 'client authentication (HTTP Basic) is missing');
    const registered = clients.get(credentials.id);
    if (!registered?.clientSecret || !sameSecret(registered.clientSecret, credentials.secret))
      throw new OAuthFailure('invalid_client', 'client authentication failed');
    seen.clientId = registered.clientId;
    const code = params.get('code') ?? '';
    const grant = codes.get(code);
    // Single use: a code is gone once presented, whatever happens next.
    codes.delete(code);
    if (!grant || grant.expiresAt <= clock())
      throw new OAuthFailure('invalid_grant', 'the authorization code is unknown, used or expired');
    seen.subject = grant.subject;
    if (grant.clientId !== registered.clientId)
      throw new OAuthFailure('invalid_grant', 'the authorization code was issued to another client');
    if (params.get('redirect_uri') !== grant.redirectUri)
      throw new OAuthFailure('invalid_grant', 'redirect_uri does not match the authorization request');
    if (grant.challenge !== undefined) {
      const verifier = params.get('code_verifier') ?? '';
      if (!VERIFIER.test(verifier))
        throw new OAuthFailure('invalid_grant', 'code_verifier is missing or malformed');
      const computed = createHash('sha256').update(verifier, 'ascii').digest('base64url');
      if (computed !== grant.challenge)
        throw new OAuthFailure('invalid_grant', 'code_verifier does not match');
    }
    return {
      access_token: randomBytes(32).toString('base64url'),
      token_type: 'Bearer',
      expires_in: options.tokenTtl,
      ...(grant.scope ? { scope: grant.scope } : {}),
    };
  }

  return { handle, redeem };
}
