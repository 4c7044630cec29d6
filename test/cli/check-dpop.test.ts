/** `check --live` of a `dpop: required` profile against oidc-provider with DPoP nonces. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { check } from '../../lib/cli/check.ts';
import { captureIo } from '../support/cli-io.ts';
import { DPOP_CLIENT_KEY, startDpopProvider, type DpopProvider } from '../support/dpop-provider.ts';

let provider: DpopProvider;
let dir: string;

beforeAll(async () => {
  provider = await startDpopProvider();
  provider.requireNonce = true;
  dir = await mkdtemp(join(tmpdir(), 'tb-check-dpop-'));
  await writeFile(
    join(dir, 'dpop.yaml'),
    `profiles:
  bound:
    issuer: dpop-client
    grant: client-assertion
    tokenUri: ${provider.tokenUrl}
    certStore: file:${DPOP_CLIENT_KEY}
    dpop: required
`,
  );
});
afterAll(async () => {
  await provider?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('token-broker check --live with dpop: required', () => {
  it('proves a key of its own, passes the nonce round trip and shows the DPoP token by fingerprint', async () => {
    const c = captureIo({ env: {}, cwd: dir });
    const before = provider.tokenRequests();
    expect(await check(['--config', 'dpop.yaml', '--live'], c.io)).toBe(0);
    expect(c.stdout()).toMatch(/ {2}live: token [0-9a-f]{8} \(DPoP, expires in \d+ s\)\n/);
    expect(provider.tokenRequests() - before).toBe(2);
  });
});
