/**
 * Property-based fuzzing of the DPoP proof check with fast-check (the hardening suite's
 * seed and run count): any header value, and proofs with any header and claims signed by
 * a real key, end in a proof accepted or `ERR_DPOP_PROOF`, never another error or a hang.
 */
import fc from 'fast-check';
import { base64url } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkProof } from '../../lib/dpop/proof.ts';
import { isBrokerError } from '../../lib/errors.ts';
import { makeProof, proofKey, type ProofKey } from '../support/dpop-proofs.ts';
import { FUZZ_RUNS, FUZZ_SEED } from '../hardening/support.ts';

const URL_ = 'https://idp.example.com/token';
const NOW = Date.UTC(2026, 0, 5, 12, 0, 0);
const settings = { seed: FUZZ_SEED, numRuns: Math.min(FUZZ_RUNS, 300), endOnFailure: true } as const;

let key: ProofKey;
beforeAll(async () => {
  key = await proofKey();
});

async function outcome(proof: string): Promise<'accepted' | 'refused'> {
  try {
    await checkProof(proof, { method: 'POST', url: URL_, now: NOW });
    return 'accepted';
  } catch (err) {
    if (isBrokerError(err, 'ERR_DPOP_PROOF')) return 'refused';
    throw err;
  }
}

const json = fc.jsonValue({ maxDepth: 2 });

describe('checkProof under fuzzing', () => {
  it('refuses any string that is not a proof with ERR_DPOP_PROOF', async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 40 }),
      json.map((v) => base64url.encode(JSON.stringify(v))),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 4 }), async (parts) => {
        expect(await outcome(parts.join('.'))).toBe('refused');
      }),
      settings,
    );
  });

  it('answers signed proofs with any header fields and claims without another error', async () => {
    const fields = fc.dictionary(
      fc.constantFrom(
        'typ',
        'alg',
        'jwk',
        'crit',
        'b64',
        'kid',
        'x5c',
        'jti',
        'htm',
        'htu',
        'iat',
        'nonce',
        'ath',
      ),
      json,
      { maxKeys: 4 },
    );
    await fc.assert(
      fc.asyncProperty(fields, fields, async (header, claims) => {
        let proof: string;
        try {
          proof = await makeProof(key, { htu: URL_, iat: NOW / 1000, header, claims });
        } catch {
          return; // jose would not sign it (e.g. an alg the key cannot make)
        }
        await outcome(proof);
      }),
      settings,
    );
  });
});
