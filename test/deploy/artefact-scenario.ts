/**
 * The packaged functions run as Lambda runs them: `osls package` once, each zip unpacked
 * as its own task root, each function in its own Node process behind a Runtime API on
 * 127.0.0.1, with the environment the CloudFormation template gives it. Key material,
 * passwords, the seal key, the consent state key and the client secret come from Secrets
 * Manager over the wire; the shared cache is a table made from the template's definition;
 * tokens come from the development authorization server. The same scenario runs against
 * the loopback fakes (artefact.test.ts) and against moto (artefact-moto.test.ts).
 */
import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
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
import { apiEvent, SCHEDULED_EVENT } from '../functions/events.ts';
import { approveAtProvider } from '../support/consent-approval.ts';
import { KEYSTORE_FIXTURES } from '../support/keys.ts';
import { startContainer, type Container, type InvocationResult } from '../support/lambda-runtime.ts';
import {
  FUNCTIONS,
  functionResourceId,
  PACKAGED_PROFILES,
  packageService,
  type FunctionName,
  type PackagedService,
  type Resource,
} from '../support/osls-package.ts';

/** Where the functions find Secrets Manager and DynamoDB, and how the test fills them. */
export interface ArtefactBackend {
  readonly secretsEndpoint: string;
  readonly dynamoDbEndpoint: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  putSecret(name: string, value: { binary: Uint8Array } | { text: string }): Promise<void>;
  /** Creates the table as CloudFormation would from the template's resource; returns its name. */
  createTable(resource: Resource): Promise<string>;
  close(): Promise<void>;
}

/** CreateTable input for the template's table resource (what CloudFormation would send). */
export function tableInput(resource: Resource, tableName: string): CreateTableCommandInput {
  const p = resource.Properties;
  return {
    TableName: tableName,
    AttributeDefinitions: p['AttributeDefinitions'],
    KeySchema: p['KeySchema'],
    BillingMode: p['BillingMode'],
    ...(p['GlobalSecondaryIndexes'] === undefined
      ? {}
      : { GlobalSecondaryIndexes: p['GlobalSecondaryIndexes'] }),
  };
}

const STAGE_SECRETS = 'token-broker/ci';
const CALLER_ARN = 'arn:aws:sts::123456789012:assumed-role/app/session';
const CALLER_ROLE = 'arn:aws:iam::123456789012:role/app';
const API_HOST = 'abc123.execute-api.eu-west-1.amazonaws.com';
const CALLBACK = `https://${API_HOST}:443/consent/callback`;
const CONSENT_CLIENT_SECRET = `consent-${randomBytes(12).toString('hex')}`;
const PASSWORD = 'changeit';

const fixture = (name: string): Buffer => readFileSync(join(KEYSTORE_FIXTURES, name));
const certificate = (name: string): string => readFileSync(join(KEYSTORE_FIXTURES, name), 'utf8');

/** The profiles file the operator would package, pointed at this run's authorization server. */
function profilesYaml(auth: AuthorizationServer): string {
  const common = (issuer: string) => `
    provider: generic
    issuer: ${issuer}
    subject: alice@example.com
    subjects: ['*@example.com']
    tokenUri: POST ${auth.tokenUrl}
    scope: read write
    callers: ['${CALLER_ROLE}']`;
  return `
consent:
  stateKey: secretsmanager:${STAGE_SECRETS}/consent-state-key
profiles:
  p12:${common('artefact-p12')}
    certStore: secretsmanager:${STAGE_SECRETS}/p12
    certPassword: secretsmanager:${STAGE_SECRETS}/p12-password
    refresh: { subjects: [carol@example.com] }
  jks:${common('artefact-jks')}
    certStore: secretsmanager:${STAGE_SECRETS}/jks
    certStoreType: jks
    certPassword: secretsmanager:${STAGE_SECRETS}/jks-credentials#password
  bundle:${common('artefact-bundle')}
    certStore: secretsmanager:${STAGE_SECRETS}/bundle#keystore
    certPassword: secretsmanager:${STAGE_SECRETS}/bundle#password
  legacy:${common('artefact-legacy')}
    certStore: secretsmanager:${STAGE_SECRETS}/legacy
    certPassword: secretsmanager:${STAGE_SECRETS}/p12-password
  kms:${common('artefact-kms')}
    certStore: kms:alias/artefact-signing
    certificate: secretsmanager:${STAGE_SECRETS}/kms-certificate
    assertion: { algorithm: ES256, x5t: true }
  consent:${common('artefact-consent')}
    certStore: secretsmanager:${STAGE_SECRETS}/p12
    certPassword: secretsmanager:${STAGE_SECRETS}/p12-password
    authUri: ${auth.authorizeUrl}
    redirectUri: ${CALLBACK}
    clientSecret: secretsmanager:${STAGE_SECRETS}/consent-client-secret
    consentErrors: [{ error: consent_required }]
`;
}

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
  let packaged: PackagedService;
  let backend: ArtefactBackend;
  let auth: AuthorizationServer;
  let table: string;
  let kms: KmsServer;
  const containers: Container[] = [];
  const secretTexts: string[] = [];

  /** The function's environment from the template, with the table and this run's endpoints. */
  function environment(name: FunctionName, overrides: Record<string, string> = {}): Record<string, string> {
    const variables = packaged.resources[functionResourceId(name)]!.Properties['Environment']
      .Variables as Record<string, unknown>;
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(variables)) {
      env[key] =
        typeof value === 'string' ? value : JSON.stringify(value) === '{"Ref":"CacheTable"}' ? table : '';
    }
    return {
      ...env,
      AWS_ACCESS_KEY_ID: backend.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: backend.credentials.secretAccessKey,
      AWS_SESSION_TOKEN: 'artefact-session-token',
      AWS_ENDPOINT_URL_SECRETS_MANAGER: backend.secretsEndpoint,
      AWS_ENDPOINT_URL_DYNAMODB: backend.dynamoDbEndpoint,
      AWS_ENDPOINT_URL_KMS: kms.url,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...overrides,
    };
  }

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
      kms = await startKmsServer();
      kms.createKey('ECC_NIST_P256', 'alias/artefact-signing');
      const kmsCertificatePem = await kmsCertificate({
        signer: await openKmsSigner({
          api: await localKms(kms.url)(undefined),
          keyId: 'alias/artefact-signing',
        }),
        subject: 'CN=artefact-kms',
      });
      packaged = await packageService();
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
            clientId: 'artefact-consent',
            certificatePem: certificate('p12-keytool-rsa2048.p12.signer.cert.pem'),
            requireConsent: true,
            redirectUris: [CALLBACK],
            clientSecret: CONSENT_CLIENT_SECRET,
          },
        ],
      });
      table = await backend.createTable(packaged.resources['CacheTable']!);
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
      // The operator's profiles file, at the path the package holds it.
      for (const name of Object.keys(FUNCTIONS) as FunctionName[]) {
        writeFileSync(join(packaged.unpack(name), PACKAGED_PROFILES), profilesYaml(auth));
      }
    }, 180_000);

    afterAll(async () => {
      await Promise.all(containers.map((c) => c.close()));
      await auth?.close();
      await backend?.close();
      await kms?.close();
      packaged?.remove();
    });

    it('token: a PKCS#12 from SecretBinary signs, the token is cached in the container and in the table', async () => {
      const first = await container('token');
      const issued = answer(await first.invoke(tokenEvent('p12')));
      expect(issued.statusCode, issued.body).toBe(200);
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

    it('token: a KMS-held key signs through the packaged function (KMS client from the split bundle)', async () => {
      const c = await container('token');
      const signs = kms.calls['Sign'] ?? 0;
      const issued = answer(await c.invoke(tokenEvent('kms')));
      expect(issued.statusCode, issued.body).toBe(200);
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

    it('health: 200 with the profile names, without the table or the seal key', async () => {
      const c = await container('health');
      const health = answer(await c.invoke(apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN })));
      expect(health.statusCode, health.body).toBe(200);
      expect(json(health)).toEqual({
        status: 'ok',
        profiles: ['bundle', 'consent', 'jks', 'kms', 'legacy', 'p12'],
      });
    });

    it("health?deep=1: every profile's key material opens, the KMS key is described", async () => {
      const c = await container('health');
      const describes = kms.calls['DescribeKey'] ?? 0;
      const event = apiEvent({ routeKey: 'GET /health', userArn: CALLER_ARN });
      const deep = answer(await c.invoke({ ...event, queryStringParameters: { deep: '1' } }));
      expect(deep.statusCode, deep.body).toBe(200);
      expect(json(deep)['checks']).toEqual({
        bundle: { ok: true },
        consent: { ok: true },
        jks: { ok: true },
        kms: { ok: true },
        legacy: { ok: true },
        p12: { ok: true },
      });
      expect((kms.calls['DescribeKey'] ?? 0) - describes).toBe(1);
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
      expect(emf.map((line) => (JSON.parse(line) as { profile: string }).profile).sort()).toEqual([
        'bundle',
        'consent',
        'jks',
        'kms',
        'legacy',
        'p12',
      ]);
      const upstream = auth.requestCount();
      const issued = answer(await (await container('token')).invoke(tokenEvent('p12', 'carol@example.com')));
      expect(issued.statusCode, issued.body).toBe(200);
      expect(auth.introspect(String(json(issued)['access_token']))?.subject).toBe('carol@example.com');
      expect(auth.requestCount()).toBe(upstream);
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
  });
}
