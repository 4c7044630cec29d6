import { describe, expect, it } from 'vitest';
import { escapeHtml, renderConsentPage } from '../../lib/consent/page.ts';
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
