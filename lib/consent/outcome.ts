import { BrokerError, type ErrorCode } from '../errors.ts';
import { HTTP_ERRORS } from '../http/error-table.ts';
import type { ConsentPage } from './page.ts';

/** What the callback answers: an HTTP status and the page that explains it. */
export interface ConsentOutcome {
  readonly status: number;
  readonly page: ConsentPage;
}

interface Who {
  readonly profile: string;
  readonly subject: string;
}

const ASK_OPERATOR = 'Try again later; if it keeps failing, ask the broker’s operator to look at its logs.';

const PROVIDER_REFUSED = {
  title: 'The provider refused the request',
  next: 'Check the profile (client id, client secret, redirectUri, key) with the broker’s operator, then start the consent again.',
};

const START_AGAIN =
  'Ask for a new consent link (a token request for this profile and subject answers one in consent_url), open it in this browser and finish within 10 minutes.';

/** The page after a consent that worked: the provider agreed and the JWT grant succeeded. */
export function grantedPage(who: Who): ConsentOutcome {
  return {
    status: 200,
    page: {
      title: 'Consent recorded',
      outcome: 'granted',
      message: `The provider recorded the consent, and the broker obtained a token for ${who.subject} with it.`,
      next: 'You can close this window. Services can now ask the broker for tokens for this subject.',
      ...who,
    },
  };
}

function failed(status: number, title: string, message: string, next: string, who?: Who): ConsentOutcome {
  return { status, page: { title, outcome: 'failed', message, next, ...who } };
}

/** Failures whose page shows the error's own message, with a title and a next step of their own. */
const MESSAGE_PAGES: Partial<Record<ErrorCode, { readonly title: string; readonly next: string }>> = {
  ERR_CONSENT_STATE: { title: 'This consent link is not valid', next: START_AGAIN },
  ERR_CONSENT_DENIED: {
    title: 'Consent was not given',
    next: 'If this was a mistake, start the consent again and approve the request.',
  },
  ERR_CONSENT_BUSY: {
    title: 'Too many consent attempts',
    next: 'Wait the time given, then ask for a new consent link and open it in this browser.',
  },
  ERR_UPSTREAM_REJECTED: PROVIDER_REFUSED,
  ERR_UPSTREAM_INVALID_RESPONSE: PROVIDER_REFUSED,
};

/**
 * The page for a failed callback. Messages come from the error when its code is one the
 * API exposes; the others (keys, secrets, configuration, anything unexpected) say only
 * that the operator should look at the logs. Nothing secret is ever in an error message.
 */
export function failurePage(err: unknown, who: Who | undefined): ConsentOutcome {
  if (!(err instanceof BrokerError)) {
    return failed(
      500,
      'Something went wrong',
      'The broker could not finish the consent because of an internal error.',
      ASK_OPERATOR,
      who,
    );
  }
  const mapping = HTTP_ERRORS[err.code];
  const status = mapping.status;
  if (err.code === 'ERR_CONSENT_REQUIRED') {
    return failed(
      status,
      'Consent is not effective yet',
      `The provider accepted the consent, but still refuses tokens for ${who?.subject ?? 'this subject'}.`,
      `Make sure you signed in at the provider as ${who?.subject ?? 'the subject'}, then start the consent again.`,
      who,
    );
  }
  const page = MESSAGE_PAGES[err.code];
  if (page) return failed(status, page.title, sentence(err.message), page.next, who);
  if (!mapping.expose || status >= 500) {
    return failed(
      status,
      'The consent could not be completed',
      'The broker could not finish the consent (the token service or a secret it needs is unavailable, or its configuration is incomplete).',
      ASK_OPERATOR,
      who,
    );
  }
  return failed(status, 'The consent could not be completed', sentence(err.message), START_AGAIN, who);
}

/** An error message as a sentence: capitalised, one final period. */
function sentence(text: string): string {
  const trimmed = text.replace(/[.\s]+$/, '');
  return `${trimmed.charAt(0).toUpperCase()}${trimmed.slice(1)}.`;
}
