import type { JWTHeaderParameters } from 'jose';
import { ConfigError } from '../errors.ts';
import type { AssertionOptions } from '../config/types.ts';
import type { JwsAlgorithm, KeyMaterial } from '../keystore/types.ts';

/** The JWS protected header of an assertion (RFC 7515 §4.1). */
export interface AssertionHeader extends JWTHeaderParameters {
  readonly alg: JwsAlgorithm;
  /** `JWT`, or `client-authentication+jwt` (draft-ietf-oauth-rfc7523bis) when the profile asks. */
  readonly typ: string;
}

/**
 * Builds the assertion's JWS header: `alg` from the profile when explicit, else the key's;
 * `typ` from the profile (default `JWT`; draft-ietf-oauth-rfc7523bis registers
 * `client-authentication+jwt` for client assertions); and `kid`, `x5t`, `x5t#S256`, `x5c` as the profile asks.
 *
 * A header parameter the profile asks for but the key material cannot supply (no
 * certificate for `x5t`, no key id for `kid: true`) is a configuration error, never
 * silently left out: Microsoft Entra, for one, refuses a certificate credential without it.
 *
 * @throws ConfigError `ERR_CONFIG` naming the missing piece.
 * @see https://www.rfc-editor.org/rfc/rfc7515#section-4.1
 * @see https://datatracker.ietf.org/doc/draft-ietf-oauth-rfc7523bis/
 */
export function buildHeader(
  profileName: string,
  options: AssertionOptions,
  key: KeyMaterial,
): AssertionHeader {
  const alg = options.algorithm === 'auto' ? key.jwsAlgorithm : options.algorithm;
  const header: { -readonly [K in keyof AssertionHeader]: AssertionHeader[K] } = {
    alg,
    typ: options.typ,
  };
  const missing = (what: string, fix: string): ConfigError =>
    new ConfigError('ERR_CONFIG', `profile "${profileName}" asks for ${what} but ${fix}`);
  if (typeof options.kid === 'string' && options.kid !== '') {
    header.kid = options.kid;
  } else if (options.kid === true) {
    if (!key.kid) throw missing('kid: true', 'its key carries no key id; set a literal kid or turn kid off');
    header.kid = key.kid;
  }
  if (options.x5t) {
    if (!key.x5t) throw missing('x5t', 'its key store holds no certificate; add one or turn x5t off');
    header.x5t = key.x5t;
  }
  if (options.x5tS256) {
    if (!key.x5tS256)
      throw missing('x5t#S256', 'its key store holds no certificate; add one or turn x5tS256 off');
    header['x5t#S256'] = key.x5tS256;
  }
  if (options.x5c) {
    if (key.certificates.length === 0)
      throw missing('x5c', 'its key store holds no certificate; add one or turn x5c off');
    // RFC 7515 §4.1.6: standard base64 (not base64url) of each DER certificate, leaf first.
    header.x5c = key.certificates.map((cert) => cert.raw.toString('base64'));
  }
  return header;
}
