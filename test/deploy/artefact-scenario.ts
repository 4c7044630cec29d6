/**
 * The packaged functions run as Lambda runs them: `osls package` of the suite's profiles
 * file (test/fixtures/deploy/artefact-profiles.yaml) once, each zip unpacked as its own
 * task root, each function in its own Node process behind a Runtime API on 127.0.0.1,
 * with the environment the CloudFormation template gives it. Key material, passwords, the
 * seal key, the consent state key and the client secret come from Secrets Manager over
 * the wire; the shared cache is a table made from the template's definition; tokens come
 * from the development authorization server. IAM is enforced: every call to Secrets
 * Manager, DynamoDB, KMS and Lambda passes a gateway (test/support/iam-gateway.ts) that
 * evaluates the calling function's role from the template, with credentials of its own
 * per process. The same scenario runs against the loopback fakes (artefact.test.ts) and
 * against moto (artefact-moto.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthorizationServer, type AuthorizationServer } from '../../lib/dev/authorization-server.ts';
import { openKmsSigner } from '../../lib/signer/kms.ts';
import { kmsCertificate } from '../../lib/signer/x509.ts';
import { localKms } from '../support/kms-client.ts';
import { startKmsServer, type KmsServer } from '../support/kms-server.ts';
import { grants, type IamDecision } from '../support/iam-authority.ts';
import type { SecretFacts } from '../support/iam-requests.ts';
import { ARTEFACT_PLACE, enforceIam, type EnforcedIam } from '../support/iam-stack.ts';
import { startLambdaInvokeServer, type LambdaInvokeServer } from '../support/lambda-invoke-server.ts';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server.ts';
import { apiEvent, SCHEDULED_EVENT } from '../functions/events.ts';
import { approveAtProvider } from '../support/consent-approval.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { skipWithoutLambdaNode } from '../support/lambda-node.ts';
import { tableInput, templateEnvironment } from '../support/packaged-stack.ts';

export { tableInput };
import { startContainer, type Container, type InvocationResult } from '../support/lambda-runtime.ts';
import {
  FUNCTIONS,
  functionResourceId,
  packageService,
  ROOT,
  type FunctionName,
  type PackagedService,
  type Resource,
} from '../support/osls-package.ts';

/** Where the functions find Secrets Manager and DynamoDB (behind the IAM gateways), and how the test fills them. */
export interface ArtefactBackend {
  readonly secretsEndpoint: string;
  readonly dynamoDbEndpoint: string;
  /**
   * Stores a secret (its ARN ends in `-${SECRET_SUFFIX}`); `kmsKeyId` as CreateSecret's
   * KmsKeyId, a customer-managed key.
   */
  putSecret(
    name: string,
    value: { binary: Uint8Array } | { text: string },
    options?: { kmsKeyId?: string },
  ): Promise<void>;
  /** The secret a SecretId (name, partial or full ARN) names, as the service knows it. */
  secret(secretId: string): SecretFacts | undefined;
  /** Creates the table as CloudFormation would from the template's resource; returns its name. */
  createTable(resource: Resource): Promise<string>;
  close(): Promise<void>;
}

/** The 6-character tail of every secret ARN the backends give (the fixture names one by full ARN). */
export const SECRET_SUFFIX = 'AbCdEf';

/** The profiles file packaged, relative to the repository (serverless.yml's folder). */
const PROFILES = 'test/fixtures/deploy/artefact-profiles.yaml';
/** Its placeholder URIs, replaced in the unpacked copies by this run's authorization server. */
const PLACEHOLDER_TOKEN_URI = 'http://127.0.0.1:1/token';
const PLACEHOLDER_AUTH_URI = 'http://127.0.0.1:1/authorize';
const STACK = 'token-broker-ci';
const STAGE_SECRETS = 'token-broker/ci';
/** The customer-managed key of one secret (serverless param `secretsKmsKeys`). */
const SECRETS_CMK = `arn:aws:kms:eu-west-1:123456789012:key/6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b`;
const PROFILE_NAMES = ['bundle', 'by-arn', 'cmk', 'consent', 'jks', 'kms', 'legacy', 'outside', 'p12'];
const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/app/session';
const API_HOST = 'abc123.execute-api.eu-west-1.amazonaws.com';
const CALLBACK = `https://${API_HOST}:443/consent/callback`;
const CONSENT_CLIENT_SECRET = `consent-${randomBytes(12).toString('hex')}`;
const PASSWORD = 'changeit';

const fixture = (name: string): Buffer => readFileSync(join(KEYSTORE_FIXTURES, name));
const certificate = (name: string): string => readFileSync(join(KEYSTORE_FIXTURES, name), 'utf8');

const secretArn = (name: string): string =>
  `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-${SECRET_SUFFIX}`;
const TABLE_ARN = (table: string): string => `arn:aws:dynamodb:eu-west-1:123456789012:table/${table}`;

/** An API Gateway HTTP API (payload 2.0) event for a route without an authorizer. */
function browserEvent(
  routeKey: string,
  path: string,
  query: Record<string, string>,
  extra: { pathParameters?: Record<string, string>; cookies?: string[] } = {},
) {
  const base = apiEvent({ routeKey });
  return {
    ...base,
    rawPath: path,
    rawQueryString: new URLSearchParams(query).toString(),
    queryStringParameters: query,
    headers: { host: API_HOST, 'user-agent': 'Mozilla/5.0', accept: 'text/html' },
    requestContext: { ...base.requestContext, http: { ...base.requestContext.http, method: 'GET', path } },
    ...extra,
  };
}

interface HttpAnswer {
  statusCode: number;
  headers?: Record<string, string>;
  cookies?: string[];
  body: string;
}

function answer(result: InvocationResult): HttpAnswer {
  if (!result.ok)
    throw new Error(`invocation failed: ${result.error.errorType}: ${result.error.errorMessage}`);
  return result.payload as HttpAnswer;
}
const json = (a: HttpAnswer): Record<string, unknown> => JSON.parse(a.body) as Record<string, unknown>;

/** Declares the artefact suite over the backend `start` returns (undefined: skipped with `reason`). */
export function defineArtefactSuite(title: string, start: () => Promise<ArtefactBackend>): void {
  if (skipWithoutLambdaNode(title)) return;
  let packaged: PackagedService;
  let backend: ArtefactBackend;
  let auth: AuthorizationServer;
  let table: string;
  let kms: KmsServer;
  let lambda: LambdaInvokeServer;
  let eventBridge: EventBridgeServer;
  let iam: EnforcedIam;
  const containers: Container[] = [];
  const secretTexts: string[] = [];
  /** Denials a test provoked on purpose (by taking a permission away). */
  const provoked = new Set<IamDecision>();

  /** The function's environment from the template, with the table and this run's endpoints. */
  function environment(name: FunctionName, overrides: Record<string, string> = {}): Record<string, string> {
    return {
      ...templateEnvironment(packaged.resources[functionResourceId(name)]!, table),
      // Credentials of its own (its role's), and the IAM gateways as every AWS endpoint.
      ...iam.environment(name),
      ...overrides,
    };
  }

  /** What `act` made IAM decide. */
  async function decided<T>(act: () => Promise<T>): Promise<{ result: T; decisions: IamDecision[] }> {
    const from = iam.authority.decisions.length;
    const result = await act();
    return { result, decisions: iam.authority.decisions.slice(from) };
  }

  /** Runs `act` with `function_`'s statements granting `action` removed; its denials count as provoked. */
  async function without<T>(function_: string, action: string, act: () => Promise<T>) {
    const restore = iam.authority.dropStatements(function_, (s) => grants(s, action));
    try {
      const out = await decided(act);
      for (const d of out.decisions) if (!d.allowed) provoked.add(d);
      return out;
    } finally {
      restore();
    }
  }

  /** A decision summarized for assertions. */
  const asked = (d: IamDecision) => ({
    function: d.function,
    action: d.action,
    resource: d.resource,
    allowed: d.allowed,
  });

  /** A new (cold) container of `name`. */
  async function container(
    name: FunctionName,
    overrides: Record<string, string> = {},
    cwd?: string,
  ): Promise<Container> {
    const taskRoot = packaged.unpack(name);
    const started = await startContainer({
      taskRoot,
      handler: FUNCTIONS[name],
      functionName: `token-broker-ci-${name}`,
      runtime: packaged.resources[functionResourceId(name)]!.Properties['Runtime'],
      env: environment(name, overrides),
      timeoutSeconds: Number(packaged.resources[functionResourceId(name)]!.Properties['Timeout']),
      ...(cwd === undefined ? {} : { cwd }),
    });
    containers.push(started);
    return started;
  }

  const tokenEvent = (profile: string, subject?: string) =>
    apiEvent({ body: JSON.stringify({ profile, ...(subject && { subject }) }), userArn: CALLER_ARN });

  describe(title, () => {
    beforeAll(async () => {
      backend = await start();
      // A KMS key (on the loopback KMS) and the certificate the CLI would make from it.
      kms = await startKmsServer({ region: ARTEFACT_PLACE.region, account: ARTEFACT_PLACE.account });
      kms.createKey('ECC_NIST_P256', 'alias/artefact-signing');
      const kmsCertificatePem = await kmsCertificate({
        signer: await openKmsSigner({
          api: await localKms(kms.url)(undefined),
          keyId: 'alias/artefact-signing',
        }),
        subject: 'CN=artefact-kms',
      });
      packaged = await packageService(PROFILES, 'ci', { secretsKmsKeys: SECRETS_CMK });
      expect(packaged.code, packaged.output).toBe(0);
      auth = await startAuthorizationServer({
        clients: [
          {
            clientId: 'artefact-p12',
            certificatePem: certificate('p12-keytool-rsa2048.p12.signer.cert.pem'),
          },
          { clientId: 'artefact-jks', certificatePem: certificate('java-rsa2048.jks.signer.cert.pem') },
          {
            clientId: 'artefact-bundle',
            certificatePem: certificate('p12-keytool-ec256.p12.signer.cert.pem'),
          },
          {
            clientId: 'artefact-legacy',
            certificatePem: certificate('p12-openssl-legacy-rsa2048.p12.signer.cert.pem'),
          },
          { clientId: 'artefact-kms', certificatePem: kmsCertificatePem },
          {
            clientId: 'artefact-outside',
            certificatePem: certificate('p12-keytool-rsa2048.p12.signer.cert.pem'),
          },
          { clientId: 'artefact-by-arn', certificatePem: certificate('java-rsa2048.jks.signer.cert.pem') },
          {
            clientId: 'artefact-cmk',
            certificatePem: certificate('p12-keytool-ec256.p12.signer.cert.pem'),
          },
          {
            clientId: 'artefact-consent',
            certificatePem: certificate('p12-keytool-rsa2048.p12.signer.cert.pem'),
            requireConsent: true,
            redirectUris: [CALLBACK],
            clientSecret: CONSENT_CLIENT_SECRET,
          },
        ],
      });
      table = await backend.createTable(packaged.resources['CacheTable']!);
      lambda = await startLambdaInvokeServer();
      eventBridge = await startEventBridgeServer();
      iam = await enforceIam({
        resources: packaged.resources,
        stackName: STACK,
        functions: Object.fromEntries(
          (Object.keys(FUNCTIONS) as FunctionName[]).map((name) => [name, functionResourceId(name)]),
        ),
        table,
        upstreams: {
          secretsmanager: backend.secretsEndpoint,
          dynamodb: backend.dynamoDbEndpoint,
          kms: kms.url,
          lambda: lambda.endpoint,
          events: eventBridge.endpoint,
        },
        lookups: { secret: (id) => backend.secret(id), key: (id) => kms.describe(id) },
      });
      const sealKey = randomBytes(32).toString('base64');
      const stateKey = randomBytes(32).toString('base64');
      const jks = fixture('java-rsa2048.jks').toString('base64');
      const bundle = fixture('p12-keytool-ec256.p12').toString('base64');
      secretTexts.push(sealKey, stateKey, jks, bundle, CONSENT_CLIENT_SECRET);
      await backend.putSecret(`${STAGE_SECRETS}/cache-key`, { text: sealKey });
      await backend.putSecret(`${STAGE_SECRETS}/consent-state-key`, { text: stateKey });
      await backend.putSecret(`${STAGE_SECRETS}/p12`, { binary: fixture('p12-keytool-rsa2048.p12') });
      await backend.putSecret(`${STAGE_SECRETS}/p12-password`, { text: PASSWORD });
      await backend.putSecret(`${STAGE_SECRETS}/jks`, { text: jks });
      await backend.putSecret(`${STAGE_SECRETS}/jks-credentials`, {
        text: JSON.stringify({ password: PASSWORD, note: 'rotated yearly' }),
      });
      await backend.putSecret(`${STAGE_SECRETS}/bundle`, {
        text: JSON.stringify({ keystore: bundle, password: PASSWORD }),
      });
      // 3DES and RC2 under the PKCS#12 KDF: the JavaScript derivation, which the bundle runs inline.
      await backend.putSecret(`${STAGE_SECRETS}/legacy`, {
        binary: fixture('p12-openssl-legacy-rsa2048.p12'),
      });
      await backend.putSecret(`${STAGE_SECRETS}/consent-client-secret`, { text: CONSENT_CLIENT_SECRET });
      await backend.putSecret(`${STAGE_SECRETS}/kms-certificate`, { text: kmsCertificatePem });
      // Outside the stage's folder; named by full ARN; under a customer-managed key.
      await backend.putSecret('security-team/docusign/keystore', {
        binary: fixture('p12-keytool-rsa2048.p12'),
      });
      await backend.putSecret('security-team/shared/jks', { text: jks });
      await backend.putSecret(
        `${STAGE_SECRETS}/cmk-keystore`,
        { binary: fixture('p12-keytool-ec256.p12') },
        { kmsKeyId: SECRETS_CMK },
      );
      // The packaged profiles file, pointed at this run's authorization server (nothing else changes).
      for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
        const path = join(packaged.unpack(name), PROFILES);
        const packagedYaml = readFileSync(path, 'utf8');
        expect(packagedYaml).toBe(readFileSync(join(ROOT, PROFILES), 'utf8'));
        writeFileSync(
          path,
          packagedYaml
            .replaceAll(`POST ${PLACEHOLDER_TOKEN_URI}`, `POST ${auth.tokenUrl}`)
            .replaceAll(PLACEHOLDER_AUTH_URI, auth.authorizeUrl),
        );
      }
    }, 180_000);

    afterAll(async () => {
      await Promise.all(containers.map((c) => c.close()));
      await iam?.close();
      await lambda?.close();
      await eventBridge?.close();
      await auth?.close();
      await backend?.close();
      await kms?.close();
      packaged?.remove();
    });

    it('token: a PKCS#12 from SecretBinary signs, the token is cached in the container and in the table', async () => {
      const first = await container('token');
      const { result, decisions } = await decided(() => first.invoke(tokenEvent('p12')));
      const issued = answer(result);
      expect(issued.statusCode, issued.body).toBe(200);
      // Each call signed with the token function's own credentials, each allowed by its role.
      const call = (action: string, resource: string) => ({
        function: 'token',
        action,
        resource,
        allowed: true,
      });
      expect(decisions.map(asked)).toEqual(
        expect.arrayContaining([
          call('secretsmanager:GetSecretValue', secretArn(`${STAGE_SECRETS}/p12`)),
          call('secretsmanager:GetSecretValue', secretArn(`${STAGE_SECRETS}/p12-password`)),
          call('secretsmanager:GetSecretValue', secretArn(`${STAGE_SECRETS}/cache-key`)),
          call('dynamodb:GetItem', TABLE_ARN(table)),
        ]),
      );
      expect(decisions.every((d) => d.function === 'token' && d.allowed)).toBe(true);
      expect(issued.headers?.['Cache-Control']).toBe('no-store');
      const body = json(issued);
      expect(body).toMatchObject({ token_type: 'Bearer', scope: 'read write' });
      expect(auth.introspect(String(body['access_token']))).toMatchObject({
        clientId: 'artefact-p12',
        subject: 'alice@example.com',
      });
      const upstream = auth.requestCount();
      // Warm: the same container answers from memory.
      expect(json(answer(await first.invoke(tokenEvent('p12'))))['access_token']).toBe(body['access_token']);
      // Cold: a new container finds the token in the shared table.
      const second = await container('token');
      const again = answer(await second.invoke(tokenEvent('p12')));
      expect(again.statusCode, again.body).toBe(200);
      expect(json(again)['access_token']).toBe(body['access_token']);
      expect(auth.requestCount()).toBe(upstream);
      secretTexts.push(String(body['access_token']));
    });

    it('token: a JKS as base64 text with its password in a JSON field, a PKCS#12 inside a JSON field, a legacy PKCS#12', async () => {
      const c = await container('token');
      for (const [profile, client] of [
        ['jks', 'artefact-jks'],
        ['bundle', 'artefact-bundle'],
        ['legacy', 'artefact-legacy'],
      ] as const) {
        const issued = answer(await c.invoke(tokenEvent(profile)));
        expect(issued.statusCode, issued.body).toBe(200);
        const token = String(json(issued)['access_token']);
        expect(auth.introspect(token)?.clientId).toBe(client);
        secretTexts.push(token);
      }
    });

    // Needs the policies that grant each secret where it lives (lib/deploy/policies.ts, param secretsKmsKeys).
    it('token: a keystore outside the stage, one named by full ARN, one under a customer-managed key (kms:Decrypt via Secrets Manager)', async () => {
      const c = await container('token');
      for (const [profile, client, secret] of [
        ['outside', 'artefact-outside', secretArn('security-team/docusign/keystore')],
        ['by-arn', 'artefact-by-arn', secretArn('security-team/shared/jks')],
        ['cmk', 'artefact-cmk', secretArn(`${STAGE_SECRETS}/cmk-keystore`)],
      ] as const) {
        const { result, decisions } = await decided(() => c.invoke(tokenEvent(profile)));
        const issued = answer(result);
        expect(issued.statusCode, `${profile}: ${issued.body}`).toBe(200);
        expect(auth.introspect(String(json(issued)['access_token']))?.clientId).toBe(client);
        expect(decisions.map(asked)).toContainEqual({
          function: 'token',
          action: 'secretsmanager:GetSecretValue',
          resource: secret,
          allowed: true,
        });
        secretTexts.push(String(json(issued)['access_token']));
      }
      const decrypts = iam.authority.decisions.filter(
        (d) => d.action === 'kms:Decrypt' && d.function === 'token',
      );
      expect(decrypts.map((d) => ({ ...asked(d), via: d.context['kms:ViaService'] }))).toContainEqual({
        function: 'token',
        action: 'kms:Decrypt',
        resource: SECRETS_CMK,
        allowed: true,
        via: 'secretsmanager.eu-west-1.amazonaws.com',
      });
    });

    it('token: a KMS-held key signs through the packaged function (KMS client from the split bundle)', async () => {
      const c = await container('token');
      const signs = kms.calls['Sign'] ?? 0;
      const { result, decisions } = await decided(() => c.invoke(tokenEvent('kms')));
      const issued = answer(result);
      expect(issued.statusCode, issued.body).toBe(200);
      // Granted by alias: the key's ARN, with its aliases as kms:ResourceAliases.
      const sign = decisions.find((d) => d.action === 'kms:Sign');
      expect(sign && { ...asked(sign), aliases: sign.context['kms:ResourceAliases'] }).toEqual({
        function: 'token',
        action: 'kms:Sign',
        resource: kms.describe('alias/artefact-signing')!.arn,
        allowed: true,
        aliases: ['alias/artefact-signing'],
      });
      const token = String(json(issued)['access_token']);
      expect(auth.introspect(token)).toMatchObject({
        clientId: 'artefact-kms',
        subject: 'alice@example.com',
      });
      expect((kms.calls['Sign'] ?? 0) - signs).toBe(1);
      secretTexts.push(token);
    });

    it('token: an unreachable Secrets Manager is 503 secret_unavailable, and the log names the cause', async () => {
      const closed = 'http://127.0.0.1:9';
      const c = await container('token', { AWS_ENDPOINT_URL_SECRETS_MANAGER: closed });
      const refused = answer(await c.invoke(tokenEvent('p12')));
      expect(refused.statusCode, refused.body).toBe(503);
      expect(json(refused)['error']).toBe('secret_unavailable');
      expect(c.output()).toContain('connection refused by 127.0.0.1:9');
    });

    it("IAM: without its role's secret statement the token function is refused, and the caller gets 503 secret_unavailable", async () => {
      const c = await container('token');
      const { result, decisions } = await without('token', 'secretsmanager:GetSecretValue', () =>
        c.invoke(tokenEvent('p12', 'erin@example.com')),
      );
      const refused = answer(result);
      expect(refused.statusCode, refused.body).toBe(503);
      expect(json(refused)['error']).toBe('secret_unavailable');
      expect(decisions.filter((d) => !d.allowed).map(asked)).toContainEqual({
        function: 'token',
        action: 'secretsmanager:GetSecretValue',
        resource: expect.stringMatching(
          /^arn:aws:secretsmanager:eu-west-1:123456789012:secret:token-broker\/ci\//,
        ),
        allowed: false,
      });
      expect(c.output()).toContain('access denied');
    });

    it('IAM: without kms:Decrypt through Secrets Manager, a secret under a customer-managed key is refused (503 secret_unavailable)', async () => {
      const c = await container('token');
      const { result, decisions } = await without('token', 'kms:Decrypt', () =>
        c.invoke(tokenEvent('cmk', 'dave@example.com')),
      );
      const refused = answer(result);
      expect(refused.statusCode, refused.body).toBe(503);
      expect(json(refused)['error']).toBe('secret_unavailable');
      expect(decisions.map(asked)).toEqual(
        expect.arrayContaining([
          {
            function: 'token',
            action: 'secretsmanager:GetSecretValue',
            resource: secretArn(`${STAGE_SECRETS}/cmk-keystore`),
            allowed: true,
          },
          { function: 'token', action: 'kms:Decrypt', resource: SECRETS_CMK, allowed: false },
        ]),
      );
      // Secrets Manager answers "Access to KMS is not allowed" (AccessDeniedException).
      expect(c.output()).toContain('access denied to its KMS key; grant kms:Decrypt on that key');
    });

    it('health: 200 with the profile names, without the table or the seal key', async () => {
      const c = await container('health');
      const health = answer(await c.invoke(apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN })));
      expect(health.statusCode, health.body).toBe(200);
      expect(json(health)).toEqual({ status: 'ok', profiles: PROFILE_NAMES });
    });

    it("health?deep=1: every profile's key material opens, the KMS key is described", async () => {
      // Only the callers of the param healthDeepCallers may ask for it.
      const c = await container('health', {
        TOKEN_BROKER_HEALTH_DEEP_CALLERS: 'arn:aws:iam::123456789012:role/app',
      });
      const describes = kms.calls['DescribeKey'] ?? 0;
      const event = apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN });
      const { result, decisions } = await decided(() =>
        c.invoke({ ...event, queryStringParameters: { deep: '1' } }),
      );
      const deep = answer(result);
      expect(deep.statusCode, deep.body).toBe(200);
      expect(json(deep)['checks']).toEqual(Object.fromEntries(PROFILE_NAMES.map((p) => [p, { ok: true }])));
      expect((kms.calls['DescribeKey'] ?? 0) - describes).toBe(1);
      // The health role reads key material and describes the key; nothing else.
      expect([...new Set(decisions.map((d) => `${d.function} ${d.action} ${d.allowed}`))].sort()).toEqual([
        'health kms:Decrypt true',
        'health kms:DescribeKey true',
        'health secretsmanager:GetSecretValue true',
      ]);
    });

    it('consent: 409 with a consent URL, start redirects, the callback records consent, then a token', async () => {
      const token = await container('token');
      const needed = answer(await token.invoke(tokenEvent('consent', 'bob@example.com')));
      expect(needed.statusCode, needed.body).toBe(409);
      expect(json(needed)).toMatchObject({ error: 'consent_required' });
      const consentUrl = new URL(String(json(needed)['consent_url']));
      expect(consentUrl.host).toBe(API_HOST);
      expect(consentUrl.pathname).toBe('/consent/consent');

      const start = await container('consentStart');
      const from = iam.authority.decisions.length;
      const started = answer(
        await start.invoke(
          browserEvent(
            'GET /consent/{profile}',
            '/consent/consent',
            { subject: 'bob@example.com' },
            {
              pathParameters: { profile: 'consent' },
            },
          ),
        ),
      );
      expect(started.statusCode, started.body).toBe(302);
      // consentStart reads the state key, and nothing else.
      expect(iam.authority.decisions.slice(from).map(asked)).toEqual([
        {
          function: 'consentStart',
          action: 'secretsmanager:GetSecretValue',
          resource: secretArn(`${STAGE_SECRETS}/consent-state-key`),
          allowed: true,
        },
      ]);
      const location = new URL(started.headers!['Location']!);
      expect(`${location.origin}${location.pathname}`).toBe(auth.authorizeUrl);
      const cookie = started.cookies![0]!.split(';')[0]!;

      const approved = await approveAtProvider(location, 'bob@example.com');
      expect(approved.status).toBe(302);
      const back = new URL(approved.headers.get('location')!);
      expect(`${back.origin}${back.pathname}`).toBe(new URL(CALLBACK).href);

      const callback = await container('consentCallback');
      const page = answer(
        await callback.invoke(
          browserEvent('GET /consent/callback', '/consent/callback', Object.fromEntries(back.searchParams), {
            cookies: [cookie],
          }),
        ),
      );
      expect(page.statusCode, page.body).toBe(200);
      expect(page.headers?.['Content-Type']).toBe('text/html; charset=utf-8');
      expect(page.body).toContain('bob@example.com');
      expect(auth.hasConsent('artefact-consent', 'bob@example.com')).toBe(true);

      const granted = answer(
        await (await container('token')).invoke(tokenEvent('consent', 'bob@example.com')),
      );
      expect(granted.statusCode, granted.body).toBe(200);
      expect(auth.introspect(String(json(granted)['access_token']))?.subject).toBe('bob@example.com');
    });

    it('refresh: a scheduled event refreshes the configured subject into the table', async () => {
      const c = await container('refresh');
      const result = await c.invoke(SCHEDULED_EVENT);
      expect(result.ok, JSON.stringify(result)).toBe(true);
      expect(result.ok && result.payload).toMatchObject({ refreshed: 1, failed: {} });
      // CertificateDaysLeft per profile with a certificate, as EMF on stdout.
      const emf = c
        .output()
        .split('\n')
        .filter((line) => line.includes('"CertificateDaysLeft"') && line.includes('"profile"'));
      expect(emf.map((line) => (JSON.parse(line) as { profile: string }).profile).sort()).toEqual(
        PROFILE_NAMES,
      );
      const upstream = auth.requestCount();
      const issued = answer(await (await container('token')).invoke(tokenEvent('p12', 'carol@example.com')));
      expect(issued.statusCode, issued.body).toBe(200);
      expect(auth.introspect(String(json(issued)['access_token']))?.subject).toBe('carol@example.com');
      expect(auth.requestCount()).toBe(upstream);
    });

    it('refresh: with two shards the scheduled run invokes itself for the other, as its role allows', async () => {
      const c = await container('refresh', { TOKEN_BROKER_REFRESH_SHARDS: '2' });
      const seen = lambda.invocations.length;
      const { result, decisions } = await decided(() => c.invoke(SCHEDULED_EVENT));
      expect(result.ok, JSON.stringify(result)).toBe(true);
      expect(lambda.invocations.slice(seen)).toEqual([
        {
          functionName: 'token-broker-ci-refresh',
          invocationType: 'Event',
          payload: { shard: 1, shards: 2 },
          signed: true,
        },
      ]);
      expect(decisions.filter((d) => d.action.startsWith('lambda:')).map(asked)).toEqual([
        {
          function: 'refresh',
          action: 'lambda:InvokeFunction',
          resource: 'arn:aws:lambda:eu-west-1:123456789012:function:token-broker-ci-refresh',
          allowed: true,
        },
      ]);
      expect(decisions.filter((d) => d.action === 'dynamodb:Query').map(asked)).toContainEqual({
        function: 'refresh',
        action: 'dynamodb:Query',
        resource: `${TABLE_ARN(table)}/index/due`,
        allowed: true,
      });
    });

    it('finds its profiles beside the bundle when LAMBDA_TASK_ROOT and the working folder are elsewhere', async () => {
      const elsewhere = mkdtempSync(join(tmpdir(), 'tb-not-the-task-root-'));
      // The runtime client loads the handler from the real task root; the function sees another.
      const c = await container('health', { LAMBDA_TASK_ROOT: elsewhere }, elsewhere);
      const health = answer(await c.invoke(apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN })));
      expect(health.statusCode, health.body).toBe(200);
    });

    it('logs every field it meant to (none dropped by Powertools) and no secret', () => {
      const logs = containers.map((c) => c.output()).join('\n');
      expect(logs).toContain('"message":"token issued"');
      expect(logs).not.toContain('is a reserved key');
      expect(logs).not.toMatch(/is not a constructor/);
      for (const secret of [...secretTexts, PASSWORD]) expect(logs).not.toContain(secret);
    });

    it("IAM: every AWS call was signed by a known function and allowed by that function's role, except the denials provoked above", () => {
      const decisions = iam.authority.decisions;
      expect(decisions.length).toBeGreaterThan(0);
      expect(decisions.filter((d) => d.error !== undefined || d.function === undefined)).toEqual([]);
      expect(decisions.filter((d) => !d.allowed && !provoked.has(d)).map(asked)).toEqual([]);
    });
  });
}
