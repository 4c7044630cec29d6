/**
 * BKS opens pay for the entry asked for: a sealed entry is unsealed (two PKCS#12 key
 * derivations, the 3DES key and IV) only when the alias names it, or when the whole store
 * must be told (no alias, an error listing the aliases, a listing). The MAC is always
 * checked. Fixtures from test/fixtures/keystores/make-longtail.sh: a certificate `ca`
 * and three sealed entries `secret` (AES), `second` (EC) and `signer` (RSA).
 */
import { describe, expect, it } from 'vitest';
import { parseBks } from '../../lib/keystore/bks.ts';
import { createKeystoreOpener } from '../../lib/keystore/index.ts';
import { derivationsComputed } from '../../lib/keystore/work-budget.ts';
import { fixture, rejection } from './helpers.ts';

const PASSWORD = 'changeit';
/** The MAC key: one derivation per open that has a store password. */
const MAC = 1;
/** A sealed entry's 3DES key and IV. */
const UNSEAL = 2;

/** Derivations `work` computes. */
async function counted<T>(work: () => Promise<T> | T): Promise<{ value: T; derivations: number }> {
  const before = derivationsComputed();
  const value = await work();
  return { value, derivations: derivationsComputed() - before };
}

describe.each(['lt-bks.bks', 'lt-bks-v1.bks'])('BKS %s', (file) => {
  it.each(['signer', 'SIGNER', 'second'])(
    'opens alias %s unsealing only that entry: the MAC and one 3DES key and IV',
    async (alias) => {
      const { openKeystore } = createKeystoreOpener();
      const { value, derivations } = await counted(() =>
        openKeystore(fixture(file), { password: PASSWORD, alias }),
      );
      expect(value.alias).toBe(alias.toLowerCase());
      expect(derivations).toBe(MAC + UNSEAL);
    },
  );

  it('still checks the MAC, before it unseals the entry asked for', async () => {
    const bytes = Buffer.from(fixture(file));
    bytes[bytes.length - 1]! ^= 1;
    const { openKeystore } = createKeystoreOpener();
    const { value: err, derivations } = await counted(() =>
      rejection(openKeystore(bytes, { password: PASSWORD, alias: 'signer' })),
    );
    expect(err.code).toBe('ERR_KEYSTORE_PASSWORD');
    expect(err.message).toBe('wrong keystore password (or the file was altered); check certPassword');
    // The asked entry's 3DES key starts off the loop while the MAC is checked; nothing else runs.
    expect(derivations).toBe(MAC + 1);
  });

  it.each([
    [
      undefined,
      'ERR_ALIAS_REQUIRED',
      'the keystore holds 2 private keys; choose one with the alias option: second, signer',
    ],
    [
      'ca',
      'ERR_ALIAS_NOT_FOUND',
      "alias 'ca' is a trusted-cert entry, not a private key entry; private-key aliases: second, signer",
    ],
    [
      'secret',
      'ERR_ALIAS_NOT_FOUND',
      "alias 'secret' is a secret-key entry, not a private key entry; private-key aliases: second, signer",
    ],
    ['nope', 'ERR_ALIAS_NOT_FOUND', "alias 'nope' not found; aliases: ca, secret, second, signer"],
  ])('tells every sealed entry to refuse alias %s as the whole store says', async (alias, code, message) => {
    const { openKeystore } = createKeystoreOpener();
    const { value: err, derivations } = await counted(() =>
      rejection(openKeystore(fixture(file), { password: PASSWORD, alias })),
    );
    expect(err.code).toBe(code);
    expect(err.message).toBe(message);
    expect(derivations).toBe(MAC + 3 * UNSEAL);
  });

  it('unseals each sealed entry once, when the whole store is read or a narrow view names it', () => {
    const { value: store, derivations: parsed } = countedSync(() => parseBks(fixture(file), PASSWORD));
    expect(parsed).toBe(MAC);
    const { value: view, derivations: named } = countedSync(() => store.named?.('Signer'));
    expect(view?.entries.map((entry) => [entry.alias, entry.kind])).toEqual([
      ['ca', 'trusted-cert'],
      ['signer', 'private-key'],
    ]);
    expect(named).toBe(UNSEAL);
    const { value: kinds, derivations: whole } = countedSync(() =>
      store.entries.map((entry) => [entry.alias, entry.kind]),
    );
    expect(kinds).toEqual([
      ['ca', 'trusted-cert'],
      ['secret', 'secret-key'],
      ['second', 'private-key'],
      ['signer', 'private-key'],
    ]);
    // `signer` was told by the narrow view; the other two sealed entries are told now.
    expect(whole).toBe(2 * UNSEAL);
    expect(countedSync(() => store.entries.length).derivations).toBe(0);
  });

  it('opens an alias although another sealed entry is damaged, and reports the damage when that entry is asked for', async () => {
    const damaged = withSealedIterations(fixture(file), 'secret', 0);
    // Without the store password the MAC cannot be checked, so the damage is only found by reading the entry.
    const { openKeystore } = createKeystoreOpener();
    const opened = await openKeystore(damaged, { alias: 'signer', keyPassword: PASSWORD });
    expect(opened.alias).toBe('signer');
    const refused = await rejection(
      createKeystoreOpener().openKeystore(damaged, { alias: 'secret', keyPassword: PASSWORD }),
    );
    expect(refused).toMatchObject({ code: 'ERR_KEYSTORE_FORMAT' });
    expect(String((refused as Error).message)).toContain('iteration count');
  });
});

/**
 * `bytes` with the iteration count in the header of `alias`'s sealed key set to `count`,
 * found by walking the BKS layout (lib/keystore/bks.ts's header comment).
 */
function withSealedIterations(bytes: Uint8Array, alias: string, count: number): Buffer {
  const b = Buffer.from(bytes);
  let o = 4;
  o += 4 + b.readUInt32BE(o) + 4; // store salt, iteration count
  const utf = (): string => {
    const n = b.readUInt16BE(o);
    const text = b.subarray(o + 2, o + 2 + n).toString('utf8');
    o += 2 + n;
    return text;
  };
  const certificate = (): void => {
    utf();
    o += 4 + b.readUInt32BE(o);
  };
  for (let type = b[o++]; type !== 0; type = b[o++]) {
    const name = utf();
    o += 8;
    const chain = b.readUInt32BE(o);
    o += 4;
    for (let i = 0; i < chain; i++) certificate();
    if (type === 1) certificate();
    else if (type === 2) {
      o += 1;
      utf();
      utf();
      o += 4 + b.readUInt32BE(o);
    } else if (type === 3) o += 4 + b.readUInt32BE(o);
    else if (type === 4) {
      const at = o + 4;
      if (name === alias) {
        b.writeUInt32BE(count, at + 4 + b.readUInt32BE(at));
        return b;
      }
      o += 4 + b.readUInt32BE(o);
    } else throw new Error(`entry type ${String(type)} is not in the fixtures' layout`);
  }
  throw new Error(`no sealed entry ${alias}`);
}

/** {@link counted} for synchronous work. */
function countedSync<T>(work: () => T): { value: T; derivations: number } {
  const before = derivationsComputed();
  const value = work();
  return { value, derivations: derivationsComputed() - before };
}
