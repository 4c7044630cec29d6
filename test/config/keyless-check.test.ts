/**
 * `token-broker check` for keyless profiles: the trust settings to enter at the provider,
 * and with `--live` the account's issuer from one call to the loopback STS, its discovery
 * fetched, the JWT never printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stsApiFactory } from '../../lib/aws/sts.ts';
import { check } from '../../lib/cli/check.ts';
import { captureIo } from '../support/cli-io.ts';
import { startStsServer, type StsServer } from '../support/sts-server.ts';

const ROLE = 'arn:aws:iam::210987654321:role/operator';
let sts: StsServer;
let dir: string;

beforeAll(async () => {
  sts = await startStsServer({ principals: { AKIDOPERATOR: ROLE } });
  dir = mkdtempSync(join(tmpdir(), 'keyless-check-'));
});
afterAll(async () => {
  await sts.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  sts.calls.length = 0;
  sts.fail(undefined);
});

const stsFactory = () =>
  stsApiFactory({
    region: 'eu-west-1',
    endpoint: sts.endpoint,
    credentials: { accessKeyId: 'AKIDOPERATOR', secretAccessKey: 'test-secret-not-real' },
    maxAttempts: 1,
  });

function profiles(tokenUri: string): string {
  const path = join(dir, 'profiles.yaml');
  writeFileSync(
    path,
    `profiles:
  graph:
    provider: entra-federated
    issuer: 11111111-2222-3333-4444-555555555555
    tokenUri: ${tokenUri}
    certStore: aws:web-identity
    scope: https://graph.microsoft.com/.default
    callers: ['*']
`,
  );
  return path;
}

const TRUST = [
  "  keyless: no key; sends the JWT STS GetWebIdentityToken signs for the function's role (RS256, 300 s)",
  '  trust at the provider (Entra app 11111111-2222-3333-4444-555555555555: Certificates & secrets > Federated credentials > Add > Other issuer):',
];
const SUBJECT =
  '    subject: arn:aws:iam::<account>:role/token-broker-<stage>-TokenRole-<suffix> and …-RefreshRole-<suffix> (stack outputs TokenRoleArn, RefreshRoleArn), one trust per role';
const AUDIENCE = '    audience: api://AzureADTokenExchange';

describe('check, keyless profiles', () => {
  it('prints the trust settings, says what --live adds, and calls no STS', async () => {
    const out = captureIo();
    const code = await check(['--config', profiles('https://login.example.com/token')], out.io, {
      sts: stsFactory(),
    });
    expect(code).toBe(0);
    const lines = out.stdout().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        'profile graph (entra-federated): ok',
        ...TRUST,
        "    issuer: the account's issuer URL; run check --live to read it from one STS call (or: aws iam get-outbound-web-identity-federation-info)",
        SUBJECT,
        AUDIENCE,
      ]),
    );
    expect(out.stdout()).not.toContain('certStore');
    expect(sts.calls).toHaveLength(0);
  });

  it('--live: the issuer from one STS call, its discovery answered, the JWT never printed', async () => {
    // A token endpoint that refuses: the operator's role is not the function's.
    const refuse = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          error: 'invalid_client',
          error_description: 'AADSTS700213: no matching federated identity record',
        }),
      );
    });
    await new Promise<void>((r) => refuse.listen(0, '127.0.0.1', r));
    const tokenUri = `http://127.0.0.1:${(refuse.address() as AddressInfo).port}/token`;
    try {
      const out = captureIo();
      const code = await check(['--config', profiles(tokenUri), '--live'], out.io, { sts: stsFactory() });
      const text = out.stdout();
      expect(text).toContain(`    issuer: ${sts.issuer} (read with --live)\n`);
      expect(text).toContain(
        `    discovery: ${sts.issuer}/.well-known/openid-configuration answers (jwks_uri ${sts.issuer}/.well-known/jwks.json)\n`,
      );
      expect(text).toContain(`${SUBJECT}\n${AUDIENCE}\n`);
      expect(text).toContain('live: ERR_UPSTREAM_REJECTED');
      expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
      expect(code).toBe(1);
      // One call for the issuer, one for the broker's token attempt (another lifetime).
      expect(sts.calls.map((c) => c.durationSeconds).sort()).toEqual([300, 60]);
    } finally {
      await new Promise((r) => refuse.close(r));
    }
  });

  it('--live: says why STS gave no JWT, in one line', async () => {
    sts.fail('OutboundWebIdentityFederationDisabled');
    const out = captureIo();
    const code = await check(['--config', profiles('https://login.example.com/token'), '--live'], out.io, {
      sts: stsFactory(),
    });
    expect(code).toBe(1);
    expect(out.stdout()).toContain(
      '  error: live: issuer: ERR_WEB_IDENTITY_DISABLED: STS GetWebIdentityToken for audience api://AzureADTokenExchange in eu-west-1 failed: outbound identity federation is not enabled in this AWS account (OutboundWebIdentityFederationDisabledException); enable it once in the IAM account settings (aws iam enable-outbound-web-identity-federation)\n',
    );
  });
});
