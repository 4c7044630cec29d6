/**
 * The rehearsal of the user's own profiles file (`npm run rehearse`, test/rehearsal/rehearse.ts):
 * packaged as `osls deploy` would and run from its zips on 127.0.0.1 under the roles the
 * template gives each function (test/rehearsal/rehearse-plan.ts says what it needs;
 * test/support/packaged-stack.ts runs it). A stand-in authorization server takes each
 * profile's token URI and consent page. A profile with `webIdentity` gets its JWT from the
 * loopback STS (lib/dev/sts.ts) behind the gateway that enforces the role's
 * `sts:GetWebIdentityToken` conditions; the JWT's `sub` is the role the function signs as,
 * and the stand-in trusts that issuer, subject and audience as the provider would. It
 * contacts neither the provider nor AWS.
 */
import type { KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyMaterialCache } from '../../lib/signer/key-material.ts';
import { loadConfig } from '../../lib/config/index.ts';
import type { BrokerConfig, Profile } from '../../lib/config/types.ts';
import { checkDeployment, formatProblem } from '../../lib/deploy/deployable.ts';
import { parseKeyList } from '../../lib/deploy/params.ts';
import {
  startAuthorizationServer,
  type AuthorizationServer,
  type DevClient,
} from '../../lib/dev/authorization-server.ts';
import { startStsServer, type StsServer } from '../../lib/dev/sts.ts';
import { federatedTrusts, verifierOf, type Verifier } from '../../lib/dev/verifier.ts';
import { BrokerError } from '../../lib/errors.ts';
import { openKeystore } from '../../lib/keystore/index.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';
import { openKmsSigner } from '../../lib/signer/kms.ts';
import { isKmsReference, parseKmsReference } from '../../lib/signer/kms-reference.ts';
import { kmsCertificate } from '../../lib/signer/x509.ts';
import { apiEvent, SCHEDULED_EVENT } from '../functions/events.ts';
import type { IamDecision } from '../support/iam-authority.ts';
import { namesSecret } from '../support/iam-requests.ts';
import type { KeySpec } from '../support/kms-server.ts';
import { localKms } from '../support/kms-client.ts';
import type { InvocationResult } from '../support/lambda-runtime.ts';
import { FUNCTIONS, packageService, type FunctionName, type Resource } from '../support/osls-package.ts';
import { startPackagedStack, type PackagedStack } from '../support/packaged-stack.ts';
import { secretsManagerClient } from '../support/secrets-manager-server.ts';
import {
  callerFor,
  formatTable,
  planSecrets,
  pointAtStandIn,
  rowOk,
  stackSealKey,
  webIdentityKey,
  type RehearsalArgs,
  type RehearsalRow,
  type SecretSource,
} from './rehearse-plan.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The operator role the rehearsal asks `GET /health?deep=1` as. */
const REHEARSAL_OPERATOR = 'arn:aws:iam::123456789012:role/token-broker-rehearsal';
const REHEARSAL_OPERATOR_SESSION = 'arn:aws:sts::123456789012:assumed-role/token-broker-rehearsal/rehearsal';
/** The functions whose roles ask STS for web identity JWTs (the template's GetWebIdentityToken statement). */
const WEB_IDENTITY_FUNCTIONS: readonly FunctionName[] = ['token', 'refresh'];

/** The file or the arguments cannot be rehearsed: one line per problem, exit 2. */
export class RehearsalStopped extends Error {
  override readonly name = 'RehearsalStopped';
  constructor(readonly lines: readonly string[]) {
    super(lines.join('; '));
  }
}
const stop = (lines: readonly string[]): never => {
  throw new RehearsalStopped(lines);
};

/** Options of {@link rehearse}. */
export interface RehearsalOptions {
  /** Progress lines and the table (default: stdout). */
  readonly say?: (line: string) => void;
  /** Changes the packaged template before the stack reads its roles (tests: other statements). */
  readonly template?: (resources: Record<string, Resource>) => void;
  /** Receives every IAM decision the gateways made, before the stack stops (tests). */
  readonly decisions?: (decisions: readonly IamDecision[]) => void;
}

/** What a rehearsal found. */
export interface Rehearsal {
  readonly rows: readonly RehearsalRow[];
  readonly ok: boolean;
}

/** The account and region the stack stands in for: those of the first ARN the profiles name. */
function placeOf(config: BrokerConfig, sources: readonly SecretSource[]) {
  const arns = [
    ...sources.map((s) => s.secretId),
    ...Object.values(config.profiles).map((p) => p.certStore.replace(/^kms:/, '')),
  ].filter((id) => id.startsWith('arn:'));
  const [, partition = 'aws', , region = 'eu-west-1', account = '123456789012'] = (arns[0] ?? '').split(':');
  return { partition, region: region || 'eu-west-1', account: account || '123456789012' };
}

/** A full secret ARN for a reference by ARN (a partial one gets a suffix), and the secret's name. */
function secretPlace(secretId: string): { name: string; arn?: string } {
  if (!secretId.startsWith('arn:')) return { name: secretId };
  const name = secretId.slice(secretId.indexOf(':secret:') + ':secret:'.length);
  return /-[A-Za-z0-9]{6}$/.test(name)
    ? { name: name.slice(0, -7), arn: secretId }
    : { name, arn: `${secretId}-AbCdEf` };
}

/** KMS key spec for a stand-in of a profile's KMS key. */
function keySpecFor(profile: Profile): KeySpec {
  const algorithm = profile.assertion.algorithm;
  if (algorithm === 'ES256') return 'ECC_NIST_P256';
  if (algorithm === 'ES384') return 'ECC_NIST_P384';
  if (algorithm === 'ES512') return 'ECC_NIST_P521';
  return 'RSA_2048';
}

/** Whether a profile asks users for consent (as `check` decides). */
const wantsConsent = (p: Profile) =>
  p.redirectUri !== undefined || (p.grant === 'jwt-bearer' && p.authUri !== undefined);

/** Stand-in KMS keys for `kms:` profiles, and certificates made by them where a profile names one. */
async function standInKeys(
  config: BrokerConfig,
  stack: PackagedStack,
  sources: SecretSource[],
): Promise<Map<string, KeyObject>> {
  const publicKeys = new Map<string, KeyObject>();
  for (const profile of Object.values(config.profiles)) {
    if (!isKmsReference(profile.certStore)) continue;
    const reference = parseKmsReference(profile.certStore);
    if (typeof reference === 'string') continue;
    const id = reference.keyId;
    const alias = id.startsWith('alias/')
      ? id
      : id.includes(':alias/')
        ? id.slice(id.indexOf(':alias/') + 1)
        : undefined;
    const keyId = alias === undefined ? id.slice(id.lastIndexOf('/') + 1) : undefined;
    const key = stack.kms.createKey(keySpecFor(profile), alias, keyId);
    publicKeys.set(profile.name, key.publicKey);
    if (profile.certificate === undefined) continue;
    const pem = await kmsCertificate({
      signer: await openKmsSigner({ api: await localKms(stack.kms.url)(undefined), keyId: key.keyId }),
      subject: `CN=${profile.name} stand-in`,
    });
    const secretId = profile.certificate.replace(/^secretsmanager:/, '').split(/[#?]/)[0]!;
    const at = sources.findIndex((s) => s.secretId === secretId);
    if (at >= 0) sources[at] = { ...sources[at]!, value: { text: pem } };
  }
  return publicKeys;
}

/** Each profile's verification key, opened here from the same secrets (the stand-in provider's copy). */
async function verificationKeys(
  config: BrokerConfig,
  stack: PackagedStack,
  kmsKeys: ReadonlyMap<string, KeyObject>,
): Promise<Map<string, DevClient>> {
  const secrets = createSecretResolver({
    secretsManager: async () => secretsManagerClient(stack.secrets.endpoint),
    env: {},
    cwd: dirname(config.source),
  });
  const keys = new KeyMaterialCache({ secrets, openKeystore: async () => openKeystore });
  const clients = new Map<string, DevClient>();
  for (const profile of Object.values(config.profiles)) {
    const kmsKey = kmsKeys.get(profile.name);
    let verifier: Verifier;
    try {
      verifier = kmsKey === undefined ? await verifierOf(profile, keys) : { publicKey: kmsKey };
    } catch {
      continue; // the key column says why, from the deployed health check
    }
    clients.set(profile.name, {
      clientId: profile.issuer,
      ...verifier,
      allowGet: profile.tokenUri.method === 'GET',
      ...(profile.redirectUri === undefined ? {} : { redirectUris: [profile.redirectUri] }),
    });
  }
  return clients;
}

type Answer = { statusCode: number; headers?: Record<string, string>; body: string };
function answer(result: InvocationResult): Answer {
  if (!result.ok) throw new Error(`${result.error.errorType}: ${result.error.errorMessage}`);
  return result.payload as Answer;
}
const errorOf = (a: Answer) => {
  try {
    const body = JSON.parse(a.body) as { error?: string; code?: string };
    return `${a.statusCode} ${body.error ?? body.code ?? ''}`.trim();
  } catch {
    return String(a.statusCode);
  }
};

/** Runs the functions for every profile and fills the table's rows. */
async function rehearseProfiles(
  config: BrokerConfig,
  stack: PackagedStack,
  auth: AuthorizationServer,
  sources: readonly SecretSource[],
): Promise<RehearsalRow[]> {
  const names = Object.keys(config.profiles).sort();
  const containers = new Map<FunctionName, Awaited<ReturnType<PackagedStack['container']>>>();
  const container = async (name: FunctionName) => {
    let c = containers.get(name);
    if (c === undefined) {
      // The rehearsal's own operator may ask for the deep health check (param healthDeepCallers).
      c = await stack.container(
        name,
        name === 'health' ? { TOKEN_BROKER_HEALTH_DEEP_CALLERS: REHEARSAL_OPERATOR } : {},
      );
      containers.set(name, c);
    }
    return c;
  };
  const step = async (run: () => Promise<string>) => {
    try {
      return await run();
    } catch (err) {
      return `failed: ${err instanceof BrokerError ? err.code : err instanceof Error ? err.message.slice(0, 80) : 'error'}`;
    }
  };

  const deep = await step(async () => {
    const event = apiEvent({
      routeKey: 'GET /health',
      userArn: REHEARSAL_OPERATOR_SESSION,
    });
    const a = answer(
      await (await container('health')).invoke({ ...event, queryStringParameters: { deep: '1' } }),
    );
    return a.body;
  });
  const checks = (() => {
    try {
      return (JSON.parse(deep) as { checks: Record<string, { ok: boolean; code?: string }> }).checks;
    } catch {
      return undefined;
    }
  })();

  const rows: RehearsalRow[] = [];
  for (const name of names) {
    const profile = config.profiles[name]!;
    const check = checks?.[name];
    const key =
      check === undefined
        ? `failed: ${deep.slice(0, 60)}`
        : check.ok
          ? (webIdentityKey(profile) ?? 'ok')
          : (check.code ?? 'failed');
    const caller = callerFor(profile);
    const tokenRole = stack.iam.roles['token']!.roleArn;
    const assertion = await step(async () => {
      if (caller === undefined) return 'no IAM caller in callers';
      const event = apiEvent({ body: JSON.stringify({ profile: name }), userArn: caller });
      const a = answer(await (await container('token')).invoke(event));
      if (a.statusCode !== 200) return errorOf(a);
      const token = String((JSON.parse(a.body) as { access_token: unknown }).access_token);
      const issued = auth.introspect(token);
      // A web identity profile's token stands for the token role (the JWT's sub), not a key,
      // or for the service account google-wif impersonates with the federated token.
      const expected = profile.impersonate?.serviceAccount ?? tokenRole;
      if (profile.webIdentity !== undefined)
        return issued?.subject === expected ? 'ok' : 'token not from the web identity JWT';
      return issued?.clientId === profile.issuer ? 'ok' : 'token not from the stand-in';
    });
    const consent = !wantsConsent(profile)
      ? '-'
      : await step(async () => {
          const subject = profile.subject ?? 'rehearsal@example.com';
          const host = new URL(profile.redirectUri ?? 'https://abc123.execute-api.eu-west-1.amazonaws.com')
            .host;
          const base = apiEvent({ routeKey: 'GET /consent/{profile}' });
          const path = `/consent/${name}`;
          const a = answer(
            await (
              await container('consentStart')
            ).invoke({
              ...base,
              rawPath: path,
              rawQueryString: new URLSearchParams({ subject }).toString(),
              queryStringParameters: { subject },
              pathParameters: { profile: name },
              headers: { host, 'user-agent': 'Mozilla/5.0', accept: 'text/html' },
              requestContext: {
                ...base.requestContext,
                http: { ...base.requestContext.http, method: 'GET', path },
              },
            }),
          );
          const location = a.headers?.['Location'] ?? '';
          return a.statusCode === 302 && location.startsWith(auth.authorizeUrl) ? 'ok' : errorOf(a);
        });
    // A keyless profile reads no secret unless it has a client secret or a keystore to fall back to.
    const reads = sources.some((s) => s.uses.some((u) => u.startsWith(`profile ${name}:`)));
    const secrets = profile.webIdentity !== undefined && !reads ? 'none' : 'ok';
    rows.push({ profile: name, secrets, key, assertion, consent, refresh: profile.refresh ? '' : '-' });
  }

  if (rows.some((r) => r.refresh === '')) {
    const outcome = await step(async () => {
      const refresh = await container('refresh');
      const result = await refresh.invoke(SCHEDULED_EVENT);
      if (!result.ok) return `failed: ${result.error.errorType}`;
      const failedLines = refresh
        .output()
        .split('\n')
        .filter((l) => l.includes('"scheduled refresh failed"'));
      return JSON.stringify(failedLines.map((l) => JSON.parse(l) as { profile?: string; code?: string }));
    });
    for (const row of rows) {
      if (row.refresh !== '') continue;
      let failures: { profile?: string; code?: string }[] | undefined;
      try {
        failures = JSON.parse(outcome) as { profile?: string; code?: string }[];
      } catch {
        row.refresh = outcome;
        continue;
      }
      const mine = failures.filter((f) => f.profile === row.profile);
      row.refresh = mine.length === 0 ? 'ok' : `failed: ${mine[0]!.code ?? 'error'}`;
    }
  }

  // Denials of the secrets a profile reads (or of the stack's own keys, which every profile needs).
  for (const decision of stack.iam.authority.decisions) {
    if (decision.allowed) continue;
    if (decision.action === 'sts:GetWebIdentityToken') {
      for (const row of rows)
        if (config.profiles[row.profile]!.webIdentity !== undefined && row.key.startsWith('web identity'))
          row.key = `${decision.action} denied to ${decision.function}`;
      continue;
    }
    const source = sources.find(
      (s) =>
        namesSecret(s.secretId, decision.resource) ||
        decision.resource.includes(`:secret:${secretPlace(s.secretId).name}-`),
    );
    const profiles = source
      ? source.uses.some((u) => !u.startsWith('profile '))
        ? names
        : source.uses.map((u) => u.slice('profile '.length, u.indexOf(':')))
      : names;
    for (const row of rows) {
      if (!profiles.includes(row.profile) || row.secrets !== 'ok') continue;
      row.secrets = `${decision.action} denied to ${decision.function}`;
    }
  }
  return rows;
}

/**
 * Rehearses the profiles file `args` name.
 *
 * @throws RehearsalStopped when the file is not deployable, a secret has no local file, or packaging fails.
 */
export async function rehearse(args: RehearsalArgs, options: RehearsalOptions = {}): Promise<Rehearsal> {
  const say = options.say ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const config = await loadConfig({ path: args.profiles, env: {}, cwd: ROOT }).catch((err: unknown) =>
    stop([err instanceof BrokerError ? `${err.code}: ${err.message}` : String(err)]),
  );
  const checked = checkDeployment(config, {
    profilesPath: args.profiles,
    serviceDir: ROOT,
    cacheSealKey: stackSealKey(args.stage, args.params),
    domainName: args.params['domainName'] || undefined,
  });
  if (checked.problems.length > 0) stop(checked.problems.map(formatProblem));
  const { sources, problems } = planSecrets(config, args);
  if (problems.length > 0) stop(problems);
  const cmks = parseKeyList(args.params['secretsKmsKeys'] ?? '');

  say(`rehearse: packaging ${args.profiles} for stage ${args.stage} (osls package)`);
  const packaged = await packageService(args.profiles, args.stage, args.params);
  if (packaged.code !== 0) stop([packaged.output.trim().split('\n').slice(-6).join('\n  ')]);
  options.template?.(packaged.resources);
  const place = placeOf(config, sources);
  const keyless = Object.values(config.profiles).filter((p) => p.webIdentity !== undefined);
  // The JWT's sub is the role of the credentials the request was signed with, as in AWS.
  let roleOf = (_accessKeyId: string): string | undefined => undefined;
  let sts: StsServer | undefined;
  let stack: PackagedStack | undefined;
  let auth: AuthorizationServer | undefined;
  try {
    if (keyless.length > 0) sts = await startStsServer({ principalOf: (id) => roleOf(id) });
    const running = await startPackagedStack({
      packaged,
      place,
      stackName: `token-broker-${args.stage}`,
      sts: sts?.endpoint,
    });
    stack = running;
    roleOf = (id) => running.iam.authority.principal(id)?.role.roleArn;
    // A secret's key named by alias must exist, so that the alias resolves to its key's ARN.
    for (const cmk of new Set([...cmks, ...sources.flatMap((source) => source.kmsKeyId ?? [])]))
      if (cmk.includes('alias/') && stack.kms.describe(cmk) === undefined)
        stack.kms.createKey('RSA_2048', cmk.slice(cmk.indexOf('alias/')));
    const kmsKeys = await standInKeys(config, stack, sources);
    for (const source of sources) {
      const { name, arn } = secretPlace(source.secretId);
      stack.secrets.put(name, source.value, undefined, {
        ...(arn === undefined ? {} : { arn }),
        ...(source.kmsKeyId === undefined ? {} : { kmsKeyId: source.kmsKeyId }),
      });
    }
    const clients = await verificationKeys(config, stack, kmsKeys);
    const audiences = Object.values(config.profiles).flatMap((p) =>
      typeof p.audience === 'string' ? [p.audience] : p.audience,
    );
    const subjects = WEB_IDENTITY_FUNCTIONS.map((name) => running.iam.roles[name]!.roleArn);
    auth = await startAuthorizationServer({
      clients: [...clients.values()],
      audience: [...new Set(audiences)],
      ...(sts && {
        federation: {
          trusts: keyless.flatMap((p) => federatedTrusts(p, sts!.issuer, subjects)),
          allowHttpIssuer: true,
        },
      }),
    });
    const text = readFileSync(resolve(ROOT, args.profiles), 'utf8');
    for (const name of Object.keys(FUNCTIONS) as FunctionName[])
      writeFileSync(join(packaged.unpack(name), args.profiles), pointAtStandIn(text, config, auth));
    say(
      `rehearse: running ${Object.keys(FUNCTIONS).length} functions from their zips under their roles (${place.region}, ${place.account})`,
    );
    const rows = await rehearseProfiles(config, running, auth, sources);
    say(`\n${formatTable(rows)}`);
    const ok = rows.every(rowOk);
    if (!ok) {
      const logged = running
        .output()
        .split('\n')
        .filter((l) => l.includes('"level":"ERROR"') || l.includes('"level":"WARN"'))
        .slice(-10);
      if (logged.length > 0) say(`the functions logged:\n${logged.join('\n')}`);
    }
    say(ok ? 'rehearse: every profile ok' : 'rehearse: FAILED');
    options.decisions?.(running.iam.authority.decisions);
    return { rows, ok };
  } finally {
    await auth?.close();
    await stack?.close();
    await sts?.close();
    packaged.remove();
  }
}
