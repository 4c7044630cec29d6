/**
 * P2-kms: `broker.issue()` on a cache miss for a profile whose key is held in KMS (the
 * real SDK client against test/support/kms-server.ts on 127.0.0.1, one `Sign` per
 * assertion), against the same miss with the same RSA 2048 key open in memory (P2's
 * path). Interleaved runs against one development authorization server; the ratio is the
 * cost of a KMS round trip on the token path.
 *
 * `node --import tsx bench/kms-path.ts [runs]`
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { kmsApiFactory } from '../lib/aws/kms.ts';
import { createBroker } from '../lib/broker/index.ts';
import { parseConfig } from '../lib/config/index.ts';
import { startAuthorizationServer } from '../lib/dev/authorization-server.ts';
import { openKmsSigner } from '../lib/signer/kms.ts';
import { kmsCertificate } from '../lib/signer/x509.ts';
import { createSecretResolver } from '../lib/secrets/index.ts';
import { startKmsServer } from '../test/support/kms-server.ts';
import { summarize, timeInterleaved, type Summary } from './stats.ts';

const CALLER = { id: 'bench', kind: 'api-key' } as const;

/** The KMS miss vs the in-memory miss; milliseconds. */
export async function measureKmsMiss(
  runs = 300,
): Promise<{ ours: Summary; baseline: Summary; runs: number }> {
  const kms = await startKmsServer();
  const dir = await mkdtemp(join(tmpdir(), 'bench-kms-'));
  const server = await startAuthorizationServer({ clients: [] });
  try {
    const key = kms.createKey('RSA_2048', 'alias/bench');
    const factory = kmsApiFactory({
      endpoint: kms.url,
      region: 'us-east-1',
      credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
    });
    const signer = await openKmsSigner({ api: await factory(undefined), keyId: 'alias/bench' });
    const certificatePem = await kmsCertificate({ signer, subject: 'CN=bench' });
    // The same key, in memory, for the baseline profile.
    const pemFile = join(dir, 'key.pem');
    await writeFile(pemFile, key.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    server.setClient({ clientId: 'bench-app', certificatePem });
    const profile = (name: string, certStore: string) =>
      [
        `  ${name}:`,
        '    issuer: bench-app',
        '    subject: warm@example.com',
        '    subjects: ["*@example.com"]',
        `    tokenUri: POST ${server.tokenUrl}`,
        '    scope: read',
        `    certStore: ${certStore}`,
        '    callers: [bench]',
      ].join('\n');
    const config = parseConfig(
      `profiles:\n${profile('kms', 'kms:alias/bench')}\n${profile('memory', `file:${pemFile}`)}\n`,
      'bench.yaml',
    );
    const broker = createBroker({
      config,
      secrets: createSecretResolver({ env: {}, cwd: dir }),
      kms: factory,
    });
    await broker.issue({ profile: 'kms', caller: CALLER });
    await broker.issue({ profile: 'memory', caller: CALLER });
    let n = 0;
    const miss = (name: string) => () =>
      broker.issue({ profile: name, subject: `user-${++n}@example.com`, caller: CALLER });
    const { a, b } = await timeInterleaved(miss('kms'), miss('memory'), runs);
    return { ours: summarize(a), baseline: summarize(b), runs };
  } finally {
    await server.close();
    await kms.close();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { ours, baseline } = await measureKmsMiss(Number(process.argv[2] ?? 300));
  console.log(`issue() miss, KMS key:    median ${ours.median.toFixed(3)} ms`);
  console.log(`issue() miss, key in memory: median ${baseline.median.toFixed(3)} ms`);
  console.log(`ratio (median):           ${(ours.median / baseline.median).toFixed(2)}x`);
}
