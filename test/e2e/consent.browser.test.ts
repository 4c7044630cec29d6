/**
 * The consent loop in a real browser (Chromium driven by playwright-core; the browser is
 * found by test/support/chromium.ts: CHROMIUM_PATH, a system one, then @sparticuz/chromium): a
 * token request answers 409 with a consent_url; the browser opens it, lands on the local
 * authorization server's consent page, approves, comes back to the broker's callback,
 * which says the consent is recorded; the token request then answers 200.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { browserForTests, launchContext } from '../support/chromium.ts';
import { CLIENT_ID, CLIENT_SECRET, consentConfig, demoCertificate, freePort } from '../consent/fixtures.ts';

const SCREENSHOT = 'test-results/consent-callback.png';
const SUBJECT = 'bob@example.com';

let authorization: AuthorizationServer;
let broker: RunningServer;
let context: BrowserContext;
let profileDir: string;

// Skipped with a one-line reason where no browser is found; under CI=true that fails instead.
const browser = browserForTests();
describe.runIf(browser.found)(`consent in a real browser (${browser.launch?.source})`, () => {
  beforeAll(async () => {
    const port = await freePort();
    // Chromium treats loopback origins as secure, so the Secure state cookie is kept on http.
    const brokerUrl = `http://127.0.0.1:${port}`;
    const redirectUris = [`${brokerUrl}/consent/callback`];
    authorization = await startAuthorizationServer({
      clients: [
        {
          clientId: CLIENT_ID,
          certificatePem: await demoCertificate(),
          requireConsent: true,
          redirectUris,
          clientSecret: CLIENT_SECRET,
        },
      ],
      audience: ['token-broker-test'],
    });
    const config = await consentConfig({
      tokenUrl: authorization.tokenUrl,
      authorizeUrl: authorization.authorizeUrl,
      brokerUrl,
    });
    broker = await startServer({ config, port, host: '127.0.0.1' });
    profileDir = await mkdtemp(join(tmpdir(), 'tb-chromium-'));
    context = await launchContext(browser.launch!, profileDir);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await broker?.close();
    await authorization?.close();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
  });

  async function askToken(): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${broker.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ profile: 'consent', subject: SUBJECT }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('goes from 409 consent_required through the consent page to a token', async () => {
    const before = await askToken();
    expect(before.status).toBe(409);
    expect(before.body['error']).toBe('consent_required');
    const consentUrl = String(before.body['consent_url']);
    expect(consentUrl).toBe(`${broker.url}/consent/consent?subject=${encodeURIComponent(SUBJECT)}`);

    const page = await context.newPage();
    await page.goto(consentUrl);
    expect(new URL(page.url()).origin).toBe(authorization.url);
    await expect(page.title()).resolves.toBe('Allow access?');
    await page.fill('#login', SUBJECT);
    await Promise.all([page.waitForURL(`${broker.url}/consent/callback?**`), page.click('#approve')]);

    const heading = page.locator('#outcome');
    expect(await heading.textContent()).toBe('Consent recorded');
    expect(await heading.getAttribute('data-outcome')).toBe('granted');
    const html = await page.content();
    const callback = new URL(page.url());
    expect(html).not.toContain(callback.searchParams.get('code')!);
    expect(html).not.toContain(callback.searchParams.get('state')!);
    expect(await page.locator('body').innerText()).toContain(SUBJECT);
    await mkdir('test-results', { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The code was redeemed once (client_secret_basic, PKCE) and the consent is on record.
    const grants = authorization.requests.map((r) => `${r.grant}:${r.status}`);
    expect(grants).toContain('authorization_code:200');
    expect(authorization.hasConsent(CLIENT_ID, SUBJECT)).toBe(true);

    const after = await askToken();
    expect(after.status).toBe(200);
    expect(authorization.introspect(String(after.body['access_token']))?.subject).toBe(SUBJECT);
  });
});
