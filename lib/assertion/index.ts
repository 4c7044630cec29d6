/**
 * RFC 7523 JWT assertions: claims, header and signature.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7523
 */
export { assertionAudience, buildClaims, RESERVED_CLAIMS } from './claims.ts';
export type { AssertionClaims, ClaimsInput } from './claims.ts';
export { buildHeader } from './header.ts';
export type { AssertionHeader } from './header.ts';
export { signAssertion } from './sign.ts';
export type { SignAssertionInput, SignedAssertion } from './sign.ts';
