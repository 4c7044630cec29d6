import { describe, expect, it } from 'vitest';
import { thrown } from '../config/helpers.ts';
import { describeReference, isSecretReference, parseReference } from '../../lib/secrets/index.ts';

const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/docusign/keystore-AbCdEf';

describe('parseReference', () => {
  it.each([
    [
      'secretsmanager:prod/docusign/keystore',
      { secretId: 'prod/docusign/keystore', field: undefined, stage: undefined, version: undefined },
    ],
    ['secretsmanager:prod/ks#password', { secretId: 'prod/ks', field: 'password' }],
    ['secretsmanager:prod/ks?stage=AWSPENDING', { secretId: 'prod/ks', stage: 'AWSPENDING' }],
    [
      'secretsmanager:prod/ks#password?stage=AWSPENDING',
      { secretId: 'prod/ks', field: 'password', stage: 'AWSPENDING' },
    ],
    [
      'secretsmanager:prod/ks?stage=AWSPREVIOUS#password',
      { secretId: 'prod/ks', field: 'password', stage: 'AWSPREVIOUS' },
    ],
    [`secretsmanager:${ARN}`, { secretId: ARN, field: undefined }],
    [
      `secretsmanager:${ARN}#keystore?version=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111`,
      { secretId: ARN, field: 'keystore', version: 'a1b2c3d4-5678-90ab-cdef-EXAMPLE11111' },
    ],
  ])('parses %s', (ref, expected) => {
    expect(parseReference(ref)).toMatchObject({ scheme: 'secretsmanager', ...expected });
  });

  it('parses file:, env: and plain:', () => {
    expect(parseReference('file:./keys/a.p12')).toEqual({ scheme: 'file', path: './keys/a.p12' });
    expect(parseReference('env:DOCUSIGN_KEY_PASSWORD')).toEqual({
      scheme: 'env',
      name: 'DOCUSIGN_KEY_PASSWORD',
    });
    expect(parseReference('plain:s3cret:with:colons')).toEqual({
      scheme: 'plain',
      value: 's3cret:with:colons',
    });
  });

  it.each([
    [
      'vault:kv/x',
      'secret reference "<not a reference>": not a secret reference (no known scheme); write secretsmanager:<name-or-arn>[#field], file:<path> or env:<VAR>, never the secret itself',
    ],
    [
      'just-a-password',
      'secret reference "<not a reference>": not a secret reference (no known scheme); write secretsmanager:<name-or-arn>[#field], file:<path> or env:<VAR>, never the secret itself',
    ],
    ['secretsmanager:', 'secret reference "secretsmanager:": secretsmanager: needs a secret name or ARN'],
    [
      'secretsmanager:a b',
      'secret reference "secretsmanager:a b": a secret name holds only letters, digits and /_+=.@-',
    ],
    [
      'secretsmanager:arn:aws:s3:::bucket',
      'secret reference "secretsmanager:arn:aws:s3:::bucket": not a Secrets Manager ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)',
    ],
    ['secretsmanager:x#', 'secret reference "secretsmanager:x#": empty JSON field after "#"'],
    [
      'secretsmanager:x?label=A',
      'secret reference "secretsmanager:x?label=A": unknown parameter "label"; use ?stage=<label> or ?version=<id>',
    ],
    [
      'secretsmanager:x?version=short',
      'secret reference "secretsmanager:x?version=short": version must be a VersionId (32-64 characters)',
    ],
    [
      'secretsmanager:x?stage=A&version=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111',
      'secret reference "secretsmanager:x?stage=A&version=a1b2c3d4-5678-90ab-cdef-EXAMPLE11111": give ?stage= or ?version=, not both',
    ],
    [
      'secretsmanager:x?',
      'secret reference "secretsmanager:x?": empty query; use ?stage=<label> or ?version=<id>',
    ],
    ['file:', 'secret reference "file:": file: needs a path, e.g. file:./keystore.p12'],
    ['env:', 'secret reference "env:": env: needs a variable name of letters, digits and _'],
    ['env:A-B', 'secret reference "env:A-B": env: needs a variable name of letters, digits and _'],
  ])('rejects %s with ERR_SECRET_REFERENCE', (ref, message) => {
    const err = thrown(() => parseReference(ref));
    expect(err.code).toBe('ERR_SECRET_REFERENCE');
    expect(err.message).toBe(message);
  });

  it('never repeats an inline plain: value', () => {
    expect(describeReference('plain:hunter2')).toBe('plain:<inline value>');
    expect(isSecretReference('env:X')).toBe(true);
    expect(isSecretReference('code')).toBe(false);
    expect(isSecretReference('https://x')).toBe(false);
  });
});
