import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/parse.ts';
import { DEFAULT_CERTIFICATE_DAYS, DEFAULT_REFRESH_FAILURES } from '../../lib/config/profile.ts';
import { config, thrown, yamlProfile } from '../config/helpers.ts';

const parse = (notify: string) => parseConfig(config(yamlProfile('billing', { notify })), 'c.yaml');

describe("a profile's notify", () => {
  it('defaults to 3 failures, thresholds 30, 7 and 1 days, the plain subject and no routing', () => {
    const profile = parseConfig(config(yamlProfile('billing')), 'c.yaml').profiles['billing']!;
    expect(DEFAULT_REFRESH_FAILURES).toBe(3);
    expect(DEFAULT_CERTIFICATE_DAYS).toEqual([30, 7, 1]);
    expect(profile.notify).toEqual({
      topicArn: undefined,
      email: [],
      refreshFailures: 3,
      certificateDays: [30, 7, 1],
      subject: 'plain',
    });
  });

  it('takes a topic, addresses, a failure count, thresholds (largest first, once each) and fingerprinted subjects', () => {
    const profile = parse(
      '{ topicArn: "arn:aws:sns:eu-west-1:123456789012:billing-alerts", email: ops@example.com, refreshFailures: 5, certificateDays: [7, 45, 7], subject: fingerprint }',
    ).profiles['billing']!;
    expect(profile.notify).toEqual({
      topicArn: 'arn:aws:sns:eu-west-1:123456789012:billing-alerts',
      email: ['ops@example.com'],
      refreshFailures: 5,
      certificateDays: [45, 7],
      subject: 'fingerprint',
    });
    expect(parse('{ email: [a@example.com, b@example.com] }').profiles['billing']!.notify?.email).toEqual([
      'a@example.com',
      'b@example.com',
    ]);
  });

  it.each([
    ['{ topicArn: "billing-alerts" }', 'notify.topicArn', 'must be an SNS topic ARN'],
    [
      '{ topicArn: "arn:aws:sns:eu-west-1:123456789012:billing-alerts.fifo" }',
      'notify.topicArn',
      'names a FIFO topic',
    ],
    ['{ email: "not an address" }', 'notify.email', 'must be an e-mail address'],
    ['{ refreshFailures: 0 }', 'notify.refreshFailures', 'must be 1 or more'],
    ['{ certificateDays: [7.5] }', 'notify.certificateDays', 'must be whole days'],
    ['{ subject: hashed }', 'notify.subject', ''],
  ])('refuses %s naming %s', (notify, key, words) => {
    const err = thrown(() => parse(notify));
    expect(err.code).toBe('ERR_CONFIG');
    expect(err.message).toContain(key);
    expect(err.message).toContain(words);
  });

  it('suggests the key meant for a misspelt one', () => {
    const err = thrown(() => parse('{ refreshFailure: 2 }'));
    expect(err.message).toContain('refreshFailures');
  });
});
