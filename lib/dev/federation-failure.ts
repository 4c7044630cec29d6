import { OAuthFailure } from './oauth-failure.ts';

/** An OAuth error with a provider's extra fields (Entra's `error_codes`, `trace_id`, …). */
export class FederationFailure extends OAuthFailure {
  constructor(
    error: string,
    description: string,
    status: number,
    readonly fields: Readonly<Record<string, unknown>>,
  ) {
    super(error, description, status);
  }
}
