/**
 * The user's step at the development authorization server's consent page, without a
 * browser: the form the page would post (`POST /authorize`) for the consent URL the
 * broker redirected to.
 */

/** Posts `decision` as `login` for the authorization request in `location`; the 302 back to the broker. */
export function approveAtProvider(location: URL, login: string, decision = 'approve'): Promise<Response> {
  const form = new URLSearchParams(location.searchParams);
  form.set('login', login);
  form.set('decision', decision);
  return fetch(`${location.origin}${location.pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
    redirect: 'manual',
  });
}
