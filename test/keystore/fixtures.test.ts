import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactSign, compactVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { isBrokerError } from '../../lib/errors.ts';
import { describeKey } from '../../lib/keystore/algorithm.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import type { KeystoreType, OpenKeystoreOptions } from '../../lib/keystore/types.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { readManifests, type ManifestRow } from '../support/keystore-manifests.ts';
import { opensslX5tS256, standalone } from './helpers.ts';

const DIR = KEYSTORE_FIXTURES;
const manifests = readManifests();

/** `RSA-2048`, `EC-P-256`, `Ed25519` as the manifests write it, from the opened key. */
function keyTypeOf(description: ReturnType<typeof describeKey>): string {
  if (description.keyAlgorithm === 'EC') return `EC-${description.curve}`;
  if (description.keyAlgorithm.startsWith('RSA')) return `RSA-${description.keySize}`;
  return description.keyAlgorithm;
}

function optionsFor(row: ManifestRow, type: KeystoreType): OpenKeystoreOptions {
  return {
    type,
    ...(row.password === undefined ? {} : { password: row.password }),
    ...(row.keyPassword === undefined ? {} : { keyPassword: row.keyPassword }),
    ...(row.alias === undefined ? {} : { alias: row.alias }),
    ...(row.certBeside === undefined ? {} : { certificate: readFileSync(join(DIR, row.certBeside)) }),
  };
}

function label(row: ManifestRow): string {
  const extras = [
    row.alias && `alias ${row.alias}`,
    row.keyPassword !== undefined && 'key password',
    row.password !== undefined && 'password',
    row.certBeside && 'cert beside',
  ].filter(Boolean);
  return `${row.file}${extras.length ? ` (${extras.join(', ')})` : ''}`;
}

describe('keystore fixtures', () => {
  it('has the openssl manifest (the others add rows when present)', () => {
    expect(manifests.map((m) => m.name)).toContain('manifest.openssl.json');
  });

  for (const { name, rows } of manifests) {
    describe(name, () => {
      it('lists files that exist', () => {
        expect(rows.length).toBeGreaterThan(0);
        for (const row of rows) {
          expect(existsSync(join(DIR, row.file)), row.file).toBe(true);
          if (row.cert) expect(existsSync(join(DIR, row.cert)), row.cert).toBe(true);
        }
      });

      for (const row of rows) {
        for (const type of ['auto', row.type] as const) {
          if (row.expectError) {
            it(`${label(row)} as ${type}: rejects with ${row.expectError}`, async () => {
              const bytes = readFileSync(join(DIR, row.file));
              const err = await openKeystore(bytes, optionsFor(row, type)).then(
                () => undefined,
                (e: unknown) => e,
              );
              expect(isBrokerError(err), `expected a BrokerError, got ${String(err)}`).toBe(true);
              const brokerError = err as Error & { code: string };
              expect(brokerError.code).toBe(row.expectError);
              expect(brokerError.message.length).toBeGreaterThan(10);
              expect(brokerError.message).not.toContain('\n');
              for (const secret of [row.password, row.keyPassword])
                if (secret) expect(brokerError.message).not.toMatch(standalone(secret));
            });
            continue;
          }
          it(`${label(row)} as ${type}: signs a JWS that the exported certificate verifies`, async () => {
            const bytes = readFileSync(join(DIR, row.file));
            const km = await openKeystore(bytes, optionsFor(row, type));
            expect(km.format).toBe(row.type);
            expect(keyTypeOf(describeKey(km.privateKey))).toBe(row.keyType);

            const jws = await new CompactSign(new TextEncoder().encode('fixture payload'))
              .setProtectedHeader({ alg: km.jwsAlgorithm })
              .sign(km.privateKey);
            expect(row.cert, 'a row that opens must name the certificate to verify with').toBeDefined();
            const certificate = new X509Certificate(readFileSync(join(DIR, row.cert!)));
            const verified = await compactVerify(jws, certificate.publicKey);
            expect(new TextDecoder().decode(verified.payload)).toBe('fixture payload');

            if (km.x5tS256 === undefined) {
              // Only a bare PEM key or a JSON key, given no certificate beside it, has none.
              expect(['pem', 'jwk', 'google-json']).toContain(row.type);
              expect(row.certBeside).toBeUndefined();
              expect(km.certificates).toHaveLength(0);
            } else {
              expect(km.x5tS256).toBe(opensslX5tS256(row.cert!));
              expect(km.certificates[0]!.fingerprint256).toBe(certificate.fingerprint256);
              expect(km.notAfter?.getTime()).toBe(new Date(certificate.validTo).getTime());
            }
            if (row.expectWarning)
              expect(km.warnings.some((warning) => warning.includes(row.expectWarning!))).toBe(true);
          });
        }
      }
    });
  }
});
