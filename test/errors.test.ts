import { describe, expect, it } from 'vitest';
import { BrokerError, ConsentRequired, UpstreamRejected, isBrokerError } from '../lib/errors.ts';
import { HTTP_ERRORS } from '../lib/http/error-table.ts';

describe('errors', () => {
  it('carries the provider error fields of an UpstreamRejected without the raw body', () => {
    const err = new UpstreamRejected({ status: 400, error: 'invalid_grant', errorDescription: 'bad sub' });
    expect(err.code).toBe('ERR_UPSTREAM_REJECTED');
    expect(err.message).toBe('the token endpoint refused the request (HTTP 400): invalid_grant (bad sub)');
    expect(err.details).toMatchObject({ error: 'invalid_grant', error_description: 'bad sub' });
    expect(isBrokerError(err, 'ERR_UPSTREAM_REJECTED')).toBe(true);
    expect(isBrokerError(err, 'ERR_FORBIDDEN')).toBe(false);
  });

  it('puts the consent URL of a ConsentRequired in its details', () => {
    const err = new ConsentRequired({
      profile: 'docusign',
      subject: 'a@b.c',
      consentUrl: 'https://x/consent',
    });
    expect(err.code).toBe('ERR_CONSENT_REQUIRED');
    expect(err.details['consent_url']).toBe('https://x/consent');
    expect(err.message).toContain('profile "docusign"');
  });

  it('maps every error code to an HTTP status and hides 500 details', () => {
    expect(HTTP_ERRORS.ERR_CONSENT_REQUIRED).toEqual({
      status: 409,
      error: 'consent_required',
      expose: true,
    });
    expect(HTTP_ERRORS.ERR_KEYSTORE_PASSWORD.expose).toBe(false);
    const internal = Object.values(HTTP_ERRORS).filter((mapping) => mapping.status === 500);
    expect(internal.length).toBeGreaterThan(0);
    expect(internal.filter((mapping) => mapping.expose)).toEqual([]);
    expect(new BrokerError('ERR_INTERNAL', 'x')).toBeInstanceOf(Error);
  });
});
