/** An RFC 6749 §5.2 error the development authorization server answers with. */
export class OAuthFailure extends Error {
  override readonly name = 'OAuthFailure';
  readonly status: number;
  readonly error: string;

  /** `description` becomes `error_description`; it must not contain secrets. */
  constructor(error: string, description: string, status = error === 'invalid_client' ? 401 : 400) {
    super(description);
    this.error = error;
    this.status = status;
  }
}
