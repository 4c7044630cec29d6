/**
 * A web page on another origin (a second loopback server on another port) tries to get a
 * token from the local server in a real browser, with no API keys configured: by a simple
 * `fetch` (text/plain, no preflight), by a JSON `fetch` (preflighted) and by a form POST
 * shaped like JSON. No token is issued: the server logs each refusal, and the
 * authorization server sees no request at all.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { startServer, type RunningServer } from '../../lib/server/index.ts';
import { browserForTests, launchContext } from '../support/chromium.ts';
import { harnessBroker, harnessConfig, startDevServer } from './harness.ts';
import { capturingLogger } from './support.ts';

const PAGE = '<!doctype html><html><head><title>Cute cats</title></head><body><p>cats</p></body></html>';

// Skipped with a one-line reason where no browser is found; under CI=true that fails instead.
const browser = browserForTests();
describe.runIf(browser.found)(
  `a page on another origin in a real browser (${browser.launch?.source})`,
  () => {
    const logger = capturingLogger();
    let auth: AuthorizationServer;
    let broker: RunningServer;
    let attacker: Server;
    let attackerUrl: string;
    let context: BrowserContext;
    let profileDir: string;

    beforeAll(async () => {
      auth = await startDevServer([{ clientId: 'client-web' }]);
      const config = harnessConfig({
        web: {
          issuer: 'client-web',
          tokenUrl: auth.tokenUrl,
          subject: 'alice@example.com',
          callers: ['local'],
        },
      });
      broker = await startServer({ config, port: 0, logger, broker: harnessBroker(config, { logger }) });
      attacker = createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(PAGE);
      });
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
      attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
      profileDir = await mkdtemp(join(tmpdir(), 'tb-chromium-'));
      context = await launchContext(browser.launch!, profileDir);
    }, 60_000);

    afterAll(async () => {
      await context?.close();
      await broker?.close();
      await auth?.close();
      await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
      if (profileDir) await rm(profileDir, { recursive: true, force: true });
    });

    it('gets no token by fetch or by form POST, and each attempt is refused and logged', async () => {
      // The same request from a program (no Origin) is served: the refusals below are the browser's origin.
      const direct = await fetch(`${broker.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"profile":"web"}',
      });
      expect(direct.status).toBe(200);
      auth.resetRequests();
      const issued = () => logger.lines.filter((l) => l.message === 'token issued').length;
      const issuedBefore = issued();
      expect(issuedBefore).toBe(1);
      const refusedBefore = logger.lines.filter((l) => l.message === 'request refused').length;

      const page = await context.newPage();
      await page.goto(attackerUrl);
      expect(await page.title()).toBe('Cute cats');
      const outcomes = await page.evaluate(async (target) => {
        const attempt = async (init: RequestInit): Promise<string> => {
          try {
            const res = await fetch(`${target}/token`, {
              method: 'POST',
              body: '{"profile":"web"}',
              ...init,
            });
            return `status ${res.status}`;
          } catch {
            return 'blocked';
          }
        };
        return [
          // A Blob without a type sends no Content-Type at all: once read as JSON.
          await attempt({ mode: 'no-cors', body: new Blob(['{"profile":"web"}']) }),
          await attempt({ mode: 'no-cors', headers: { 'content-type': 'text/plain' } }),
          await attempt({ headers: { 'content-type': 'text/plain' } }),
          await attempt({ headers: { 'content-type': 'application/json' } }),
        ];
      }, broker.url);
      // An opaque answer, a CORS failure, a failed preflight: the page reads nothing.
      expect(outcomes).toEqual(['status 0', 'status 0', 'blocked', 'blocked']);

      // A form cannot send application/json; text/plain makes a body that looks like JSON.
      await Promise.all([
        page.waitForURL(`${broker.url}/token`),
        page.evaluate((target) => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = `${target}/token`;
          form.enctype = 'text/plain';
          const input = document.createElement('input');
          input.name = '{"profile":"web","x":"';
          input.value = '"}';
          form.append(input);
          document.body.append(form);
          form.submit();
        }, broker.url),
      ]);
      const answer = JSON.parse((await page.locator('body').innerText()).trim()) as Record<string, string>;
      expect(answer).toEqual({
        error: 'forbidden',
        message: `requests from the web page origin "${attackerUrl}" are refused; the local server serves programs, not pages`,
      });

      // Nothing reached the broker's token path; every request that arrived was refused and logged.
      expect(auth.requestCount()).toBe(0);
      const refused = logger.lines.filter((l) => l.message === 'request refused').slice(refusedBefore);
      expect(refused.length).toBeGreaterThanOrEqual(4);
      for (const line of refused) {
        expect(line.level).toBe('warn');
        expect(line.fields['reason']).toBe(
          `requests from the web page origin "${attackerUrl}" are refused; the local server serves programs, not pages`,
        );
      }
      expect(issued()).toBe(issuedBefore);
    }, 60_000);
  },
);
