/**
 * `check --live` for keyless profiles: the account's issuer URL, read from the `iss` of one
 * web identity JWT STS signs for the caller (the JWT itself is never printed), and whether
 * the issuer answers OpenID Connect discovery as providers fetch it.
 *
 * @see https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig
 */
import { decodeJwt } from 'jose';
import type { StsApiFactory } from '../aws/sts.ts';
import type { BrokerConfig, Profile } from '../config/types.ts';
import type { ProfileReport, ReportLine } from '../config/inspect.ts';
import { BrokerError } from '../errors.ts';
import { readCappedBody } from '../exchange/response.ts';
import { oneLineText } from '../text.ts';
import { WebIdentitySource } from '../signer/web-identity.ts';

/** What {@link withLiveIssuer} needs. */
export interface LiveIssuerDeps {
  readonly sts?: StsApiFactory | undefined;
  readonly fetch?: typeof fetch | undefined;
}

/** The issuer line of a report, as lib/config/keyless-trust.ts writes it. */
const ISSUER_LINE = /^ {2}issuer: /;
/** Discovery answers are small; a provider's fetch is bounded too. */
const DISCOVERY_TIMEOUT_MS = 10_000;
/** Largest discovery document read, bytes. */
const MAX_DISCOVERY_BYTES = 64 * 1024;

/** A value of the answer as a report shows it: one line, bounded. */
const shown = (value: unknown): string => oneLineText(String(value), 200);

async function discovery(issuer: string, doFetch: typeof fetch): Promise<ReportLine> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  try {
    const response = await doFetch(url, {
      redirect: 'manual',
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(DISCOVERY_TIMEOUT_MS),
    });
    if (response.status !== 200)
      return {
        level: 'error',
        text: `  discovery: ${url} answers HTTP ${response.status}; providers cannot verify the JWT`,
      };
    const body = (JSON.parse(await readCappedBody(response, MAX_DISCOVERY_BYTES)) ?? {}) as {
      issuer?: unknown;
      jwks_uri?: unknown;
    };
    if (body.issuer !== issuer)
      return {
        level: 'error',
        text: `  discovery: ${url} names issuer ${shown(body.issuer)}, not ${issuer}`,
      };
    return { level: 'info', text: `  discovery: ${url} answers (jwks_uri ${shown(body.jwks_uri)})` };
  } catch (err) {
    return {
      level: 'error',
      text: `  discovery: ${url} did not answer (${err instanceof Error ? err.name : typeof err}); providers cannot verify the JWT`,
    };
  }
}

/**
 * The reports with the live issuer of the account: one STS call (the first profile with
 * `webIdentity`, 60 s), its `iss` in place of the issuer line of every such profile, and a
 * discovery line; an STS failure is one error line per such profile. Reports of other
 * profiles, and failed ones, are returned as they are.
 */
export async function withLiveIssuer(
  config: BrokerConfig,
  reports: readonly ProfileReport[],
  deps: LiveIssuerDeps,
): Promise<ProfileReport[]> {
  const keyless = (name: string): Profile | undefined => {
    const profile = Object.hasOwn(config.profiles, name) ? config.profiles[name] : undefined;
    return profile?.webIdentity !== undefined ? profile : undefined;
  };
  const first = reports.map((r) => keyless(r.name)).find((p) => p !== undefined);
  if (first === undefined || first.webIdentity === undefined) return [...reports];
  let found: ReportLine[];
  try {
    const source = new WebIdentitySource({ sts: deps.sts, region: config.cache.region });
    const issuer = decodeJwt(await source.token({ ...first.webIdentity, lifetime: 60, tags: {} })).iss;
    if (issuer === undefined) throw new TypeError('the web identity JWT has no iss');
    found = [
      { level: 'info', text: `  issuer: ${issuer} (read with --live)` },
      await discovery(issuer, deps.fetch ?? fetch),
    ];
  } catch (err) {
    const text =
      err instanceof BrokerError
        ? `${err.code}: ${err.message}`
        : `unexpected ${err instanceof Error ? err.name : typeof err}`;
    found = [{ level: 'error', text: `live: issuer: ${text}` }];
  }
  return reports.map((report) => {
    if (keyless(report.name) === undefined) return report;
    const lines = report.lines.flatMap((line) => (ISSUER_LINE.test(line.text) ? found : [line]));
    return { ...report, ok: report.ok && !found.some((l) => l.level === 'error'), lines };
  });
}
