/** Fixed test credentials and helpers shared by the SigV4 verifier and client tests. */
import type { SigV4Request, SigV4VerifyOptions } from '../../lib/auth/sigv4-verify.ts';
import { createSigner } from '../../lib/client/sign.ts';

export const REGION = 'eu-west-1';
export const ACCESS_KEY_ID = 'AKIDTESTBROKERCLIENT';
export const SECRET_ACCESS_KEY = 'test-secret-access-key-0123456789abcdef';
export const SESSION_TOKEN = 'test-session-token';
export const CALLER_ARN = 'arn:aws:iam::123456789012:role/billing-batch';

/** A credentials provider for the fixed test key, or another secret. */
export const credentials =
  (secretAccessKey = SECRET_ACCESS_KEY, sessionToken?: string) =>
  async () => ({ accessKeyId: ACCESS_KEY_ID, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) });

/** Verifier options knowing only the fixed test key, for the hosts `signedPost` signs for by default. */
export function verifyOptions(
  now: () => number = Date.now,
  hosts: ReadonlySet<string> = new Set(['broker.example.com:443']),
): SigV4VerifyOptions {
  return {
    region: REGION,
    service: 'execute-api',
    now,
    hosts,
    lookup: async (id) =>
      id === ACCESS_KEY_ID ? { secret: SECRET_ACCESS_KEY, caller: CALLER_ARN } : undefined,
  };
}

/** A POST signed the way the client signs it, in the verifier's request shape. */
export async function signedPost(
  options: {
    url?: string;
    body?: string;
    secret?: string;
    region?: string;
    date?: Date;
    sessionToken?: string;
  } = {},
): Promise<SigV4Request> {
  const url = new URL(options.url ?? 'https://broker.example.com/token');
  const body = options.body ?? '{"profile":"docusign"}';
  const sign = createSigner(options.region ?? REGION, credentials(options.secret, options.sessionToken));
  const signed = await sign(
    url,
    'POST',
    { 'content-type': 'application/json' },
    body,
    options.date ?? new Date(),
  );
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  return {
    method: 'POST',
    path: url.pathname,
    query,
    headers: { ...signed.headers, host: url.host },
    body,
  };
}
