import { describe, expect, it } from 'vitest';
import { failurePage } from '../../lib/consent/outcome.ts';
import { escapeHtml, renderConsentPage } from '../../lib/consent/page.ts';
import { ConsentError, RequestError, SecretError } from '../../lib/errors.ts';
import { createMemoryConsentStore } from '../../lib/consent/store.ts';

describe('consent page', () => {
  it('escapes hostile values so no markup gets through', () => {
    const html = renderConsentPage({
      title: 'Consent failed',
      outcome: 'failed',
      message: 'The provider said: <script>alert(1)</script>',
      next: 'Try again',
      profile: '"><img src=x onerror=alert(1)>',
      subject: "o'neil@example.com",
    });
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('o&#39;neil@example.com');
    expect(html).toContain('data-outcome="failed"');
  });

  it('escapes every HTML metacharacter', () => {
    expect(escapeHtml(`<>&"'\``)).toBe('&lt;&gt;&amp;&quot;&#39;&#96;');
  });
});

describe('memory consent store', () => {
  it('accepts a nonce once and refuses its replay', async () => {
    const store = createMemoryConsentStore(() => 1000);
    expect(await store.useNonce('n1', 5000)).toBe(true);
    expect(await store.useNonce('n1', 5000)).toBe(false);
    expect(await store.useNonce('n2', 5000)).toBe(true);
  });

  it('keeps the latest record per profile and subject', async () => {
    const store = createMemoryConsentStore();
    await store.record({ profile: 'p', subject: 's', at: 1, outcome: 'ERR_CONSENT_REQUIRED' });
    await store.record({ profile: 'p', subject: 's', at: 2, outcome: 'granted' });
    expect(await store.latest('p', 's')).toEqual({ profile: 'p', subject: 's', at: 2, outcome: 'granted' });
    expect(await store.latest('p', 'other')).toBeUndefined();
  });
});

describe('failure page', () => {
  const who = { profile: 'crm', subject: 'alice@example.com' };

  it("shows a denial's own message with its next step", () => {
    const outcome = failurePage(
      new ConsentError('ERR_CONSENT_DENIED', 'the provider answered "access_denied"'),
      who,
    );
    expect(outcome.status).toBe(400);
    expect(outcome.page).toEqual({
      title: 'Consent was not given',
      outcome: 'failed',
      message: 'The provider answered "access_denied".',
      next: 'If this was a mistake, start the consent again and approve the request.',
      ...who,
    });
  });

  it('shows an exposed request error with the way to start again', () => {
    const outcome = failurePage(new RequestError('ERR_UNKNOWN_PROFILE', 'unknown profile "x".  '), undefined);
    expect(outcome.status).toBe(404);
    expect(outcome.page.title).toBe('The consent could not be completed');
    expect(outcome.page.message).toBe('Unknown profile "x".');
    expect(outcome.page.next).toMatch(/^Ask for a new consent link/);
  });

  it('says nothing of a secret error or an unexpected error but to look at the logs', () => {
    const secret = failurePage(
      new SecretError('ERR_SECRET_NOT_FOUND', 'secret arn:aws:secretsmanager:x is missing'),
      who,
    );
    expect(secret.status).toBe(503);
    expect(secret.page.message).not.toContain('arn:aws');
    expect(secret.page.next).toBe(
      'Try again later; if it keeps failing, ask the broker’s operator to look at its logs.',
    );
    const unexpected = failurePage(new TypeError('boom at secret-value'), undefined);
    expect(unexpected.status).toBe(500);
    expect(unexpected.page.title).toBe('Something went wrong');
    expect(unexpected.page.message).not.toContain('boom');
  });
});
