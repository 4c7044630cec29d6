/**
 * Row P7: `broker.issue()` against what a single service would use instead,
 * google-auth-library's `JWT` client (its own RS256 signing through `jws`, its own token
 * request through gaxios and its own token cache), for the same RSA key, issuer, subject
 * and scope, against the same development authorization server on 127.0.0.1.
 *
 * The `JWT` client has no option for the token endpoint (gtoken posts to Google's fixed
 * URL and signs `aud` for it), so two things point it at the local server: a request
 * interceptor on the client's own gaxios transporter (`jwt.transporter.interceptors`)
 * rewrites the request URL to the local token URL, and `additionalClaims` sets `aud` to that URL and a fresh `jti` (the server
 * rejects replays; Google does not ask for one).
 *
 * - Miss: a new subject every call, so a new cache key for the broker and, since a `JWT`
 *   client holds one subject's token, a new client for the library (how its docs
 *   impersonate a user). Both with the key parsed once beforehand: the broker's key
 *   material cache; the library gets the PEM text, which `jws` parses on every signature.
 * - Hit: the same subject again: the broker's in-process cache vs the client's cached
 *   `getAccessToken()`.
 *
 * Interleaved runs (ours, theirs, ours, …). `node --import tsx bench/p7-google-auth.ts [misses] [hits]`
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { JWT } from 'google-auth-library';
import { summarize, timeInterleaved, type Summary } from './stats.ts';
import { CALLER, KEY_FILE, setUp } from './token-path.ts';

/** What one P7 measurement returns; misses in milliseconds, hits in microseconds. */
export interface GoogleAuthResult {
  readonly miss: { readonly ours: Summary; readonly theirs: Summary };
  readonly hit: { readonly ours: Summary; readonly theirs: Summary };
  /** Token requests the authorization server answered, to prove hits stayed local. */
  readonly upstream: { readonly misses: number; readonly hits: number };
}

/** Points the client's own gaxios transporter at `tokenUrl` instead of Google's token URL. */
function redirect(jwt: JWT, tokenUrl: string): JWT {
  jwt.transporter.interceptors.request.add({
    resolved: async (options) => {
      options.url = new URL(tokenUrl);
      return options;
    },
  });
  return jwt;
}

/**
 * Measures both paths; `misses` and `hits` calls of each side.
 * @throws Error when a token request fails or a hit reaches the server
 */
export async function measureGoogleAuth(misses = 300, hits = 20_000): Promise<GoogleAuthResult> {
  const { server, broker } = await setUp();
  try {
    const pem = await readFile(KEY_FILE, 'utf8');
    const client = (subject: string): JWT =>
      redirect(
        new JWT({
          email: 'bench-app',
          key: pem,
          subject,
          scopes: ['read'],
          additionalClaims: { aud: server.tokenUrl, jti: randomUUID() },
        }),
        server.tokenUrl,
      );
    const token = async (jwt: JWT): Promise<string> => {
      const { token: accessToken } = await jwt.getAccessToken();
      if (!accessToken) throw new Error('P7: google-auth-library returned no access token');
      return accessToken;
    };

    let n = 0;
    const before = server.requestCount();
    const miss = await timeInterleaved(
      () => broker.issue({ profile: 'bench', subject: `user-${++n}@example.com`, caller: CALLER }),
      () => token(client(`gal-${++n}@example.com`)),
      misses,
    );
    const missRequests = server.requestCount() - before;

    const cached = client('warm@example.com');
    await token(cached);
    await broker.issue({ profile: 'bench', caller: CALLER });
    const warm = server.requestCount();
    const hit = await timeInterleaved(
      () => broker.issue({ profile: 'bench', caller: CALLER }),
      () => token(cached),
      hits,
      Math.min(1000, hits),
    );
    const hitRequests = server.requestCount() - warm;
    if (hitRequests !== 0) throw new Error(`P7: ${hitRequests} hit(s) reached the authorization server`);
    const micros = (samples: number[]): Summary => summarize(samples.map((ms) => ms * 1000));
    return {
      miss: { ours: summarize(miss.a), theirs: summarize(miss.b) },
      hit: { ours: micros(hit.a), theirs: micros(hit.b) },
      upstream: { misses: missRequests, hits: hitRequests },
    };
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await measureGoogleAuth(Number(process.argv[2] ?? 300), Number(process.argv[3] ?? 20_000));
  const line = (name: string, s: Summary, unit: string): string =>
    `${name.padEnd(34)} median ${s.median.toFixed(3)} ${unit}, min ${s.min.toFixed(3)}, p99 ${s.p99.toFixed(3)} (${s.runs} runs)`;
  console.log(line('issue() miss', r.miss.ours, 'ms'));
  console.log(line('JWT client, new subject', r.miss.theirs, 'ms'));
  console.log(`miss ratio ${(r.miss.ours.median / r.miss.theirs.median).toFixed(2)}x (goal ≤ 1.0x)`);
  console.log(line('issue() hit', r.hit.ours, 'µs'));
  console.log(line('JWT getAccessToken(), cached', r.hit.theirs, 'µs'));
  console.log(`hit ratio ${(r.hit.ours.median / r.hit.theirs.median).toFixed(2)}x (goal ≤ 4x)`);
  console.log(`upstream requests: ${r.upstream.misses} for the misses, ${r.upstream.hits} for the hits`);
}
