import { OAuthFailure } from './oauth-failure.ts';

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** RFC 8693 §3 token type identifiers the development server knows. */
export const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

/** How a registered client's token exchanges are answered (`DevClient.tokenExchange`). */
export interface DevTokenExchange {
  /** Accepted `subject_token_type` values; default the JWT type. */
  readonly subjectTokenTypes?: readonly string[];
  /** Accepted `audience` values; default any. Another one is `invalid_target`. */
  readonly audiences?: readonly string[];
  /** Accepted `resource` values; default any. Another one is `invalid_target`. */
  readonly resources?: readonly string[];
  /**
   * The `issued_token_type` answered: default the `requested_token_type`, else the access
   * token type; `null` leaves it out (a server that breaks §2.2.1, for tests).
   */
  readonly issuedTokenType?: string | null;
}

/** One token exchange as the server read it (RFC 8693 §2.1). */
export interface TokenExchangeRecord {
  readonly clientId: string;
  readonly subject: string;
  readonly subjectTokenType: string;
  readonly requestedTokenType: string | undefined;
  readonly audience: readonly string[];
  readonly resource: readonly string[];
  readonly scope: string | undefined;
  /** The names of the request's parameters, in the order sent. */
  readonly parameters: readonly string[];
}

/** The subject token of a token exchange request, or an `invalid_request`. */
export function subjectToken(params: URLSearchParams): string {
  const jwt = params.get('subject_token') ?? '';
  if (!jwt) throw new OAuthFailure('invalid_request', 'the subject_token parameter is missing');
  if (!params.get('subject_token_type'))
    throw new OAuthFailure('invalid_request', 'the subject_token_type parameter is missing');
  if (params.has('actor_token') || params.has('actor_token_type'))
    throw new OAuthFailure('invalid_request', 'actor tokens are not supported');
  return jwt;
}

/**
 * Checks the §2.1 parameters of a verified exchange against the client's settings and
 * returns what was asked: an unsupported `subject_token_type` is `invalid_request`, an
 * `audience` or `resource` the client may not target is `invalid_target` (§2.2.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8693#section-2.2.2
 */
export function readExchange(
  params: URLSearchParams,
  settings: DevTokenExchange | undefined,
  who: { readonly clientId: string; readonly subject: string; readonly scope: string | undefined },
): TokenExchangeRecord {
  const subjectTokenType = params.get('subject_token_type')!;
  if (!(settings?.subjectTokenTypes ?? [JWT_TYPE]).includes(subjectTokenType))
    throw new OAuthFailure('invalid_request', `subject_token_type "${subjectTokenType}" is not supported`);
  const audience = params.getAll('audience');
  const resource = params.getAll('resource');
  const audiences = settings?.audiences;
  const resources = settings?.resources;
  const target = [
    ...(audiences ? audience.filter((a) => !audiences.includes(a)) : []),
    ...(resources ? resource.filter((r) => !resources.includes(r)) : []),
  ];
  if (target.length > 0)
    throw new OAuthFailure('invalid_target', `no token is issued for ${target.join(', ')}`);
  return {
    ...who,
    subjectTokenType,
    requestedTokenType: params.get('requested_token_type') ?? undefined,
    audience,
    resource,
    parameters: [...params.keys()],
  };
}

/** The `issued_token_type` of the answer, or undefined to leave it out. */
export function issuedTokenType(
  record: TokenExchangeRecord,
  settings: DevTokenExchange | undefined,
): string | undefined {
  if (settings?.issuedTokenType === null) return undefined;
  return settings?.issuedTokenType ?? record.requestedTokenType ?? ACCESS_TOKEN_TYPE;
}
