/**
 * What `inspect` lists as signable signs: for every keystore fixture, each private-key
 * entry listed with a JWS algorithm opens with that algorithm, signs a JWS with jose (the
 * assertion's library) and the signature verifies with the entry's exported certificate
 * (or, for a key without one, with its public key).
 */
import { X509Certificate, createPublicKey } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { CompactSign, compactVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { listKeystore, openKeystore } from '../../lib/keystore/index.ts';
import { readManifests } from '../support/keystore-manifests.ts';
import { DIR, fixture, rejection } from './helpers.ts';

interface Case {
  readonly file: string;
  readonly password?: string;
  readonly keyPassword?: string;
}

/** Manifest rows (with their passwords), and the long-tail files (password changeit). */
function cases(): Case[] {
  const seen = new Set<string>();
  const all: Case[] = [];
  const add = (c: Case): void => {
    const key = JSON.stringify(c);
    if (seen.has(key)) return;
    seen.add(key);
    all.push(c);
  };
  for (const { rows } of readManifests())
    for (const row of rows)
      if (!row.expectError)
        add({
          file: row.file,
          ...(row.password !== undefined && { password: row.password }),
          ...(row.keyPassword !== undefined && { keyPassword: row.keyPassword }),
        });
  // The files refused as a whole (cost, RFC 9579, cipher, UBER) are tested in longtail/work.
  const refused = /costly|overbudget|nokeylen|bf-cbc|uber/;
  for (const file of readdirSync(DIR).sort())
    if (/^lt-/.test(file) && !/\.(cert|src)\.pem$/.test(file) && !refused.test(file))
      add({ file, password: 'changeit' });
  return all;
}

const PAYLOAD = new TextEncoder().encode('{"sub":"probe"}');

describe('inspect lists as signable only keys that sign', () => {
  const all = cases();
  it('covers the fixtures', () => {
    expect(all.length).toBeGreaterThan(60);
  });

  it.each(all)('$file', { timeout: 60_000 }, async ({ file, password, keyPassword }) => {
    const bytes = fixture(file);
    const options = {
      ...(password !== undefined && { password }),
      ...(keyPassword !== undefined && { keyPassword }),
    };
    const listing = await listKeystore(bytes, options);
    for (const entry of listing.entries) {
      if (entry.kind !== 'private-key') continue;
      if (!entry.jwsAlgorithm) {
        const err = await rejection(openKeystore(bytes, { ...options, alias: entry.alias }));
        expect(['ERR_UNSUPPORTED_KEY', 'ERR_KEY_PASSWORD']).toContain(err.code);
        continue;
      }
      const material = await openKeystore(bytes, { ...options, alias: entry.alias });
      expect(material.jwsAlgorithm).toBe(entry.jwsAlgorithm);
      const jws = await new CompactSign(PAYLOAD)
        .setProtectedHeader({ alg: material.jwsAlgorithm })
        .sign(material.privateKey);
      const leaf = material.certificates[0];
      const verifier = leaf ? new X509Certificate(leaf.raw).publicKey : createPublicKey(material.privateKey);
      const { payload } = await compactVerify(jws, verifier, { algorithms: [material.jwsAlgorithm] });
      expect(Buffer.from(payload).equals(Buffer.from(PAYLOAD))).toBe(true);
    }
  });

  it('lists a P-384 JWK whose public point is not its own without an algorithm, and refuses it at open', async () => {
    const bytes = fixture('lt-jwk-p384-mismatch.json');
    const listing = await listKeystore(bytes);
    expect(listing.entries.map((entry) => [entry.alias, entry.curve, entry.jwsAlgorithm])).toEqual([
      ['edited', 'P-384', undefined],
    ]);
    const reason =
      "the key of 'edited' cannot sign ES384: its public point (x, y) does not belong to its private scalar (d): " +
      'the key is damaged or was edited; export the key again from its source';
    expect(listing.warnings).toEqual([`ERR_UNSUPPORTED_KEY: ${reason}`]);
    const err = await rejection(openKeystore(bytes));
    expect(err.code).toBe('ERR_UNSUPPORTED_KEY');
    expect(err.message).toBe(reason);
  });
});
