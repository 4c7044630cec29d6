import { BrokerError } from '../errors.ts';
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
      'Try again later; if it keeps failing, ask the broker’s operator to look at its logs.',
      who,
    );
  }
  const mapping = HTTP_ERRORS[err.code];
  const status = mapping.status;
  switch (err.code) {
    case 'ERR_CONSENT_STATE':
      return failed(status, 'This consent link is not valid', `${capital(err.message)}.`, START_AGAIN, who);
    case 'ERR_CONSENT_DENIED':
      return failed(
        status,
        'Consent was not given',
        `${capital(err.message)}.`,
        'If this was a mistake, start the consent again and approve the request.',
        who,
      );
    case 'ERR_CONSENT_REQUIRED':
      return failed(
        status,
        'Consent is not effective yet',
        `The provider accepted the consent, but still refuses tokens for ${who?.subject ?? 'this subject'}.`,
        `Make sure you signed in at the provider as ${who?.subject ?? 'the subject'}, then start the consent again.`,
        who,
      );
    case 'ERR_UPSTREAM_REJECTED':
    case 'ERR_UPSTREAM_INVALID_RESPONSE':
      return failed(
        status,
        'The provider refused the request',
        `${capital(err.message)}.`,
        'Check the profile (client id, client secret, redirectUri, key) with the broker’s operator, then start the consent again.',
        who,
      );
    default:
      if (!mapping.expose || status >= 500)
        return failed(
          status,
          'The consent could not be completed',
          'The broker could not finish the consent (the token service or a secret it needs is unavailable, or its configuration is incomplete).',
          'Try again later; if it keeps failing, ask the broker’s operator to look at its logs.',
          who,
        );
      return failed(
        status,
        'The consent could not be completed',
        `${capital(err.message)}.`,
        START_AGAIN,
        who,
      );
  }
}

function capital(text: string): string {
  const trimmed = text.replace(/[.\s]+$/, '');
  return trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
}
