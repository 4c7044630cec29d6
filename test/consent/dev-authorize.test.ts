import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { CLIENT_ID, CLIENT_SECRET, demoCertificate } from './fixtures.ts';

const CALLBACK = 'http://127.0.0.1:9/consent/callback';
const VERIFIER = 'v'.repeat(43);
let server: AuthorizationServer;

beforeAll(async () => {
  server = await startAuthorizationServer({
    clients: [
      {
        clientId: CLIENT_ID,
        certificatePem: await demoCertificate(),
        redirectUris: [CALLBACK],
        clientSecret: CLIENT_SECRET,
      },
    ],
  });
});
afterAll(() => server.close());

const query = (extra: Record<string, string> = {}): URLSearchParams =>
  new URLSearchParams({
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: CALLBACK,
    state: 's1',
    ...extra,
  });

async function approve(extra: Record<string, string> = {}): Promise<string> {
  const form = query(extra);
  form.set('login', 'alice@example.com');
  form.set('decision', 'approve');
  const res = await fetch(server.authorizeUrl, { method: 'POST', body: form, redirect: 'manual' });
  return new URL(res.headers.get('location')!).searchParams.get('code')!;
}

async function redeem(params: Record<string, string>, secret = CLIENT_SECRET) {
  const res = await fetch(server.tokenUrl, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${CLIENT_ID}:${secret}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'authorization_code', redirect_uri: CALLBACK, ...params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('development authorization endpoint', () => {
  it('shows an error, and never redirects, for a redirect_uri that is not registered', async () => {
    const res = await fetch(`${server.authorizeUrl}?${query({ redirect_uri: 'https://evil.example/cb' })}`, {
      redirect: 'manual',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('The redirect_uri does not match the one registered for this client.');
  });

  it('escapes request values on the consent screen', async () => {
    const res = await fetch(
      `${server.authorizeUrl}?${query({ state: '"><script>x</script>', scope: '<b>' })}`,
    );
    const html = await res.text();
    expect(html).not.toContain('<script>x');
    expect(html).toContain('value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
    expect(res.headers.get('content-security-policy')).toContain("form-action 'self' http://127.0.0.1:9");
  });

  it('redeems a code once, with the secret and the PKCE verifier', async () => {
    const challenge = createHash('sha256').update(VERIFIER).digest('base64url');
    const code = await approve({ code_challenge: challenge, code_challenge_method: 'S256' });
    expect(await redeem({ code, code_verifier: 'w'.repeat(43) })).toEqual({
      status: 400,
      body: { error: 'invalid_grant', error_description: 'code_verifier does not match' },
    });
    const again = await approve({ code_challenge: challenge, code_challenge_method: 'S256' });
    expect((await redeem({ code: again, code_verifier: VERIFIER })).status).toBe(200);
    expect((await redeem({ code: again, code_verifier: VERIFIER })).body).toEqual({
      error: 'invalid_grant',
      error_description: 'the authorization code is unknown, used or expired',
    });
  });

  it('refuses a wrong client secret', async () => {
    const code = await approve();
    expect(await redeem({ code }, 'wrong')).toEqual({
      status: 401,
      body: { error: 'invalid_client', error_description: 'client authentication failed' },
    });
  });
});
