import { Document, isMap } from 'yaml';
import { CALLBACK_PATH } from './callback-path.ts';
import { ConfigError } from '../errors.ts';
import { isSecretReference } from '../secrets/reference.ts';
import { oneLineText } from '../text.ts';
import { getOption, type ConnectionOptions } from './connection-string.ts';
import type { ProviderName } from './types.ts';

/** Options of {@link importDataDirect}. */
export interface ImportOptions {
  /** Profile name; default: the DSN name, else the detected provider, else `imported`. */
  readonly profile?: string | undefined;
  /** The odbc.ini data source name, used for the default profile name. */
  readonly dsn?: string | undefined;
  /** Write passwords and the security token inline (`plain:`) instead of `env:` references. */
  readonly includeSecrets?: boolean;
}

/** An imported profile: the YAML-ready object, its name and notes for stderr. */
export interface ImportResult {
  readonly name: string;
  readonly profile: Readonly<Record<string, unknown>>;
  readonly notes: readonly string[];
  /** A comment written above the profile in the YAML (the DataDirect RedirectURI not imported). */
  readonly comment?: string | undefined;
}

/** Whether a RedirectURI already is the broker's callback: absolute, a port, the callback path. */
function isBrokerCallback(uri: string): boolean {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return false;
  }
  const port = /^[a-z][a-z0-9+.-]*:\/\/(\[[^\]]*\]|[^/:?#]*):(\d+)/i.test(uri);
  return (
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    port &&
    url.pathname.endsWith(CALLBACK_PATH) &&
    url.search === '' &&
    url.hash === ''
  );
}

/** DataDirect option names this import maps (lower-case), besides the ones it ignores. */
const MAPPED = [
  'authenticationmethod',
  'claimsissuer',
  'claimssubject',
  'jwtcertstore',
  'jwtcertpassword',
  'jwtcertalias',
  'tokenuri',
  'redirecturi',
  'authheader',
  'securitytoken',
  'scope',
  'clientid',
  'clientsecret',
];

/** AuthenticationMethod values that mean OAuth 2.0 (55 is the JWT bearer method). */
const AUTH_METHODS: Readonly<Record<string, string>> = {
  '55': '55',
  'oauth2-jwtbearer': '55',
  '24': '24',
  oauth2: '24',
};

const HOST_PROVIDERS: ReadonlyArray<[RegExp, ProviderName]> = [
  [/^account-d\.docusign\.com$/i, 'docusign-demo'],
  [/^account\.docusign\.com$/i, 'docusign'],
  [/^login\.salesforce\.com$/i, 'salesforce'],
  [/^test\.salesforce\.com$/i, 'salesforce-sandbox'],
  [/^oauth2\.googleapis\.com$/i, 'google'],
  [/^login\.microsoftonline\.com$/i, 'entra'],
  [/\.okta(preview)?\.com$/i, 'okta'],
];

function detectProvider(tokenUri: string): ProviderName {
  const url = tokenUri.trim().split(/\s+/).at(-1)!;
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return 'generic';
  }
  return HOST_PROVIDERS.find(([pattern]) => pattern.test(host))?.[1] ?? 'generic';
}

/** `TOKEN_BROKER_<PROFILE>_<WHAT>`, upper-case with `_` for anything else. */
function secretEnvName(profile: string, what: string): string {
  return `TOKEN_BROKER_${profile.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_${what}`;
}

function profileName(options: ImportOptions, provider: ProviderName): string {
  const chosen =
    options.profile ?? options.dsn ?? (provider === 'generic' ? 'imported' : provider.split('-')[0]!);
  const cleaned = chosen
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 64);
  if (cleaned === '')
    throw new ConfigError(
      'ERR_CONFIG',
      `profile name "${chosen}" has no letters or digits; pass --profile NAME`,
    );
  return cleaned;
}

/**
 * Maps DataDirect Autonomous REST options (AuthenticationMethod 55 or 24) onto a profile.
 * Passwords and the security token become `env:` references unless `includeSecrets`.
 *
 * @throws ConfigError `ERR_AUTH_METHOD` for an AuthenticationMethod other than 55, 24,
 *   OAuth2-JWTBearer or OAuth2; `ERR_CONNECTION_STRING` when ClaimsIssuer, JWTCertStore or
 *   TokenURI is missing.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-2.1
 */
export function importDataDirect(
  options: ConnectionOptions,
  importOptions: ImportOptions = {},
): ImportResult {
  const notes: string[] = [];
  const get = (key: string) => {
    const value = getOption(options, key);
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };

  const method = get('AuthenticationMethod');
  if (method === undefined) {
    notes.push('AuthenticationMethod is not set; imported as the JWT bearer method (55)');
  } else {
    const known = AUTH_METHODS[method.toLowerCase()];
    if (known === undefined) {
      throw new ConfigError(
        'ERR_AUTH_METHOD',
        `AuthenticationMethod "${method}" is not an OAuth 2.0 JWT bearer method; token-broker imports 55 (OAuth2-JWTBearer) or 24 (OAuth2)`,
      );
    }
    if (known === '24')
      notes.push(`AuthenticationMethod=${method} (OAuth2) imported as an RFC 7523 JWT bearer grant`);
  }

  const missing = ['ClaimsIssuer', 'JWTCertStore', 'TokenURI'].filter((k) => get(k) === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      'ERR_CONNECTION_STRING',
      `connection string: ${missing.join(', ')} missing; a JWT bearer profile needs each`,
    );
  }
  const tokenUri = get('TokenURI')!;
  const provider = detectProvider(tokenUri);
  const name = profileName(importOptions, provider);
  const secret = (value: string, what: string, key: string): string => {
    if (isSecretReference(value) && !value.startsWith('plain:')) return value;
    if (importOptions.includeSecrets) {
      notes.push(
        `${key} is written inline (--include-secrets); move it to Secrets Manager before sharing this file`,
      );
      return `plain:${value}`;
    }
    const variable = secretEnvName(name, what);
    notes.push(`${key} is not printed: set ${variable}, or change the reference to secretsmanager:<name>`);
    return `env:${variable}`;
  };

  const profile: Record<string, unknown> = {};
  if (provider !== 'generic') {
    profile['provider'] = provider;
    notes.push(`provider ${provider} detected from TokenURI`);
  }
  profile['issuer'] = get('ClaimsIssuer');
  const subject = get('ClaimsSubject');
  if (subject !== undefined) profile['subject'] = subject;
  const clientId = get('ClientID');
  if (clientId !== undefined) profile['clientId'] = clientId;

  if (/^\s*(get|post)\s+/i.test(tokenUri)) {
    profile['tokenUri'] = tokenUri.replace(/^\s*(\S+)\s+/, (_, m: string) => `${m.toUpperCase()} `);
  } else {
    profile['tokenUri'] = tokenUri;
    notes.push(
      `TokenURI has no method prefix: token-broker POSTs it (RFC 6749 §3.2), where DataDirect would have used GET; write "GET ${tokenUri}" to keep GET`,
    );
  }
  const scope = get('Scope');
  if (scope !== undefined) profile['scope'] = scope.split(/\s+/).join(' ');

  const store = get('JWTCertStore')!;
  if (isSecretReference(store)) {
    profile['certStore'] = store;
  } else {
    profile['certStore'] = `file:${store}`;
    notes.push(
      `JWTCertStore is read from file:${store}; store the keystore in Secrets Manager (secretsmanager:<name>) for deployment`,
    );
  }
  const password = get('JWTCertPassword');
  if (password !== undefined) profile['certPassword'] = secret(password, 'CERT_PASSWORD', 'JWTCertPassword');
  const alias = get('JWTCertAlias');
  if (alias !== undefined) profile['certAlias'] = alias;
  const redirect = get('RedirectURI');
  let comment: string | undefined;
  if (redirect !== undefined && isBrokerCallback(redirect)) {
    profile['redirectUri'] = redirect;
  } else if (redirect !== undefined) {
    comment = ` DataDirect RedirectURI was ${redirect} (its own listener; not imported)`;
    notes.push(
      `RedirectURI ${redirect} is not imported: register https://<your broker>:443${CALLBACK_PATH} with the provider as the redirect URI and set redirectUri to it; DataDirect's RedirectURI pointed at its own listener`,
    );
  }
  const clientSecret = get('ClientSecret');
  if (clientSecret !== undefined)
    profile['clientSecret'] = secret(clientSecret, 'CLIENT_SECRET', 'ClientSecret');

  const authHeader = get('AuthHeader');
  const token = get('SecurityToken');
  if (token !== undefined) {
    const header = authHeader ?? 'Authorization';
    if (authHeader === undefined)
      notes.push('SecurityToken without AuthHeader: sent in the Authorization header');
    // Header values may be literal, so --include-secrets writes the token as it is.
    const inline = importOptions.includeSecrets === true && !isSecretReference(token);
    const value = inline ? token : secret(token, 'SECURITY_TOKEN', 'SecurityToken');
    if (inline)
      notes.push(
        'SecurityToken is written inline (--include-secrets); move it to Secrets Manager before sharing this file',
      );
    profile['headers'] = { [header]: value };
  } else if (authHeader !== undefined) {
    notes.push(`AuthHeader=${authHeader} has no SecurityToken; no header imported`);
  }

  const ignored = [...options.keys()].filter((k) => !MAPPED.includes(k.toLowerCase()));
  if (ignored.length > 0) notes.push(`ignored (not used by token-broker): ${ignored.join(', ')}`);
  return { name, profile, notes, ...(comment !== undefined && { comment }) };
}

/** The imported profile as a YAML config that loads through `parseConfig` unchanged. */
export function importedYaml(result: ImportResult): string {
  const doc = new Document({ profiles: { [result.name]: result.profile } });
  if (result.comment !== undefined) {
    const profiles = doc.get('profiles', true);
    const entry = isMap(profiles) ? profiles.items[0] : undefined;
    // A comment stays on one line whatever the connection string held.
    if (entry?.key && typeof entry.key === 'object')
      (entry.key as { commentBefore?: string }).commentBefore = ` ${oneLineText(result.comment, 500)}`;
  }
  return doc.toString({ lineWidth: 0 });
}
