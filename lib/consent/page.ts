/** What the callback page says. Every value is escaped; nothing secret is ever passed in. */
export interface ConsentPage {
  readonly title: string;
  readonly outcome: 'granted' | 'failed';
  /** One or two sentences: what happened. */
  readonly message: string;
  /** What to do next. */
  readonly next: string;
  readonly profile?: string | undefined;
  readonly subject?: string | undefined;
}

/** Content-Security-Policy of the page: no script, no external resource, inline style only. */
export const CONSENT_PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
};

/** Escapes text for HTML element content and quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

/** Renders the small HTML page shown after the consent callback. */
export function renderConsentPage(page: ConsentPage): string {
  const rows: string[] = [];
  if (page.profile !== undefined) rows.push(`<dt>Profile</dt><dd>${escapeHtml(page.profile)}</dd>`);
  if (page.subject !== undefined) rows.push(`<dt>Subject</dt><dd>${escapeHtml(page.subject)}</dd>`);
  const colour = page.outcome === 'granted' ? '#1a7f37' : '#b42318';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem;color:${colour}}
dl{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}
dt{font-weight:600}
</style>
</head>
<body>
<h1 id="outcome" data-outcome="${page.outcome}">${escapeHtml(page.title)}</h1>
<p id="message">${escapeHtml(page.message)}</p>
${rows.length > 0 ? `<dl>${rows.join('')}</dl>` : ''}
<p id="next">${escapeHtml(page.next)}</p>
</body>
</html>
`;
}
