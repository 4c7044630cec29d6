import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBroker } from '../../lib/broker/index.ts';
import { reportCertificateDays } from '../../lib/refresh/certificate-days.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { recordingLogger, recordingMetrics } from '../support/shared-cache-fixtures.ts';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

const KEY_FILE = join(KEYSTORE_FIXTURES, 'pem-rsa2048-with-cert.pem');

describe('CertificateDaysLeft', () => {
  it('emits the days left per profile with a certificate, and logs a profile whose key does not open', async () => {
    const base = {
      issuer: 'app',
      subject: 'alice@example.com',
      tokenUri: 'POST https://login.example.com/token',
    };
    const config = configFrom(
      profileYaml('with-cert', { ...base, certStore: `file:${KEY_FILE}` }) +
        profileYaml('bare', {
          ...base,
          certStore: `file:${join(KEYSTORE_FIXTURES, 'pem-ec256-pkcs8.pem')}`,
        }) +
        profileYaml('broken', { ...base, certStore: `file:${join(KEYSTORE_FIXTURES, 'none.pem')}` }),
    );
    const broker = createBroker({ config, secrets: fileSecrets() });
    const notAfter = new Date(new X509Certificate(readFileSync(`${KEY_FILE}.cert.pem`)).validTo);
    const now = notAfter.getTime() - 20.5 * 86_400_000;
    const metrics = recordingMetrics();
    const logger = recordingLogger();
    const days = await reportCertificateDays({
      config,
      certificateExpiry: (p) => broker.certificateExpiry(p),
      metrics,
      logger,
      now,
    });
    expect(days).toEqual({ 'with-cert': 20 });
    expect(metrics.total('CertificateDaysLeft')).toBe(20);
    expect(logger.lines.map((l) => [l.level, l.message, l.fields?.['profile'], l.fields?.['code']])).toEqual([
      ['warn', 'certificate expiry unknown: key material did not open', 'broken', 'ERR_SECRET_REFERENCE'],
    ]);
  });
});
