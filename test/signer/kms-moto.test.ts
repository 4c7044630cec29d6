import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadKmsSdk } from '../../lib/aws/sdk.ts';
import { createBroker } from '../../lib/broker/index.ts';
import { kmsCommand } from '../../lib/cli/kms.ts';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { configFrom, fileSecrets, profileYaml } from '../support/broker-env.ts';
import { captureIo } from '../support/cli-io.ts';
import { localKms } from '../support/kms-client.ts';
import { MOTO_MISSING, motoServerPath, startMoto, type Moto } from '../support/moto.ts';

// moto signs PSS with the longest salt and hashes a DIGEST again, so only RS and ES with
// RAW messages run here; PSS and DIGEST are exact against test/support/kms-server.ts.
const present = motoServerPath() !== undefined;
if (!present) console.warn(MOTO_MISSING);

describe.skipIf(!present)("KMS-held keys against moto's KMS", () => {
  let moto: Moto;
  let auth: AuthorizationServer;
  let tmp: string;

  beforeAll(async () => {
    moto = await startMoto();
    auth = await startAuthorizationServer({ clients: [] });
    tmp = await mkdtemp(join(tmpdir(), 'kms-moto-'));
  }, 40_000);
  afterAll(async () => {
    await moto?.close();
    await auth?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it.each([
    ['RSA_2048', 'RS256'],
    ['ECC_NIST_P256', 'ES256'],
  ] as const)(
    'issues a token for a %s key (%s, RAW), verified with the CLI-made certificate',
    async (spec, alg) => {
      const { KMSClient, CreateKeyCommand, CreateAliasCommand } = await loadKmsSdk();
      const client = new KMSClient({
        endpoint: moto.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      });
      const created = await client.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' }));
      const alias = `alias/moto-${spec.toLowerCase()}`;
      await client.send(
        new CreateAliasCommand({ AliasName: alias, TargetKeyId: created.KeyMetadata!.KeyId! }),
      );

      const captured = captureIo();
      const code = await kmsCommand(['certificate', alias, '--subject', 'CN=moto'], captured.io, {
        kms: localKms(moto.endpoint),
      });
      expect(captured.stderr()).toBe('');
      expect(code).toBe(0);
      const certificatePem = captured.stdout();
      const certificate = new X509Certificate(certificatePem);
      expect(certificate.verify(certificate.publicKey)).toBe(true);

      const certFile = join(tmp, `${spec}.pem`);
      await writeFile(certFile, certificatePem);
      auth.setClient({ clientId: `moto-${spec}`, certificatePem });
      const config = configFrom(
        profileYaml('kms', {
          issuer: `moto-${spec}`,
          subject: 'alice@example.com',
          tokenUri: `POST ${auth.tokenUrl}`,
          certStore: `kms:${created.KeyMetadata!.Arn}`,
          certificate: `file:${certFile}`,
          callers: ['cli'],
          assertion: { algorithm: alg, x5t: true },
        }),
      );
      const broker = createBroker({ config, secrets: fileSecrets(), kms: localKms(moto.endpoint) });
      const token = await broker.issue({ profile: 'kms', caller: { id: 'cli', kind: 'cli' } });
      expect(token.cached).toBe(false);
      expect(auth.introspect(token.access_token)).toMatchObject({
        clientId: `moto-${spec}`,
        subject: 'alice@example.com',
      });
    },
  );
});
