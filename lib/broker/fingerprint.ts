import { hash } from 'node:crypto';

/** How a token is named in logs: the first 8 hex digits of its SHA-256. Never the token itself. */
export function tokenFingerprint(token: string): string {
  return hash('sha256', token, 'hex').slice(0, 8);
}
