/**
 * A Secrets Manager endpoint on 127.0.0.1 speaking the service's JSON 1.1 protocol
 * (`X-Amz-Target: secretsmanager.GetSecretValue`), for the real SDK client: secrets by
 * name or ARN, versions with staging labels (AWSCURRENT, AWSPREVIOUS, AWSPENDING), and
 * the service's error shape.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const REGION = 'eu-west-1';
const ACCOUNT = '123456789012';

/** A value as Secrets Manager holds it: binary or text. */
export type SecretPayload = { readonly binary: Uint8Array } | { readonly text: string };

/** What {@link SecretsManagerServer.describe} knows of a secret (DescribeSecret's ARN and KmsKeyId). */
export interface SecretDescription {
  readonly name: string;
  readonly arn: string;
  /** The customer-managed key it was stored with; undefined for the default `aws/secretsmanager`. */
  readonly kmsKeyId: string | undefined;
}

/** Options of {@link SecretsManagerServer.put}. */
export interface PutOptions {
  /** `KmsKeyId` of CreateSecret: the key (ARN, id or alias) the secret is encrypted with. */
  readonly kmsKeyId?: string;
  /**
   * The secret's full ARN, when it must be a given one (a profile that names the secret by
   * ARN, in another account or region, or with its own 6-character suffix); default: the
   * name in this fake's account and region with the suffix `-AbCdEf`. Kept once set.
   */
  readonly arn?: string;
}

interface Version {
  readonly id: string;
  readonly payload: SecretPayload;
  stages: string[];
  readonly created: number;
}

/** One request as the server saw it. */
export interface SecretsManagerCall {
  readonly target: string | undefined;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
}

/** A running fake. */
export interface SecretsManagerServer {
  /** `http://127.0.0.1:<port>`, for `endpoint` or `AWS_ENDPOINT_URL_SECRETS_MANAGER`. */
  readonly endpoint: string;
  /** Requests seen, oldest first. */
  readonly calls: readonly SecretsManagerCall[];
  /** GetSecretValue calls for `name` so far. */
  reads(name: string): number;
  /**
   * Stores a new version of `name` (created when missing) with `stages` (default
   * AWSCURRENT, whose previous holder becomes AWSPREVIOUS); returns its VersionId. A
   * `kmsKeyId` sets the secret's key (as CreateSecret's KmsKeyId; kept once set).
   */
  put(name: string, payload: SecretPayload, stages?: readonly string[], options?: PutOptions): string;
  /** The secret `secretId` (name, partial or full ARN) names, or undefined. */
  describe(secretId: string): SecretDescription | undefined;
  /** Moves `stage` to `versionId` (AWSCURRENT moves the old one to AWSPREVIOUS), as UpdateSecretVersionStage does. */
  moveStage(name: string, stage: string, versionId: string): void;
  /** The secret's ARN as the service gives it (name plus a 6-character suffix). */
  arn(name: string): string;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Starts the fake on 127.0.0.1, port 0. */
export async function startSecretsManager(): Promise<SecretsManagerServer> {
  const secrets = new Map<string, Version[]>();
  const keys = new Map<string, string>();
  const arns = new Map<string, string>();
  const calls: SecretsManagerCall[] = [];
  const arn = (name: string): string =>
    arns.get(name) ?? `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
  // A full ARN, or the partial one (without the suffix), names the secret as well as its name.
  const byId = (id: string): string | undefined => {
    if (secrets.has(id)) return id;
    return [...secrets.keys()].find((name) => arn(name) === id || arn(name).slice(0, -7) === id);
  };

  const moveStage = (name: string, stage: string, versionId: string): void => {
    const versions = secrets.get(name) ?? [];
    const previous = versions.find((v) => v.stages.includes(stage));
    for (const v of versions) v.stages = v.stages.filter((s) => s !== stage);
    if (stage === 'AWSCURRENT' && previous !== undefined && previous.id !== versionId) {
      for (const v of versions) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
      previous.stages.push('AWSPREVIOUS');
    }
    const target = versions.find((v) => v.id === versionId);
    if (target === undefined) throw new TypeError(`no version ${versionId} of ${name}`);
    target.stages.push(stage);
  };

  const fail = (res: ServerResponse, status: number, type: string, message: string) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/x-amz-json-1.1');
    res.setHeader('x-amzn-errortype', type);
    res.end(JSON.stringify({ __type: type, message }));
  };

  const server: Server = createServer((req, res) => {
    void readBody(req).then((text) => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        fail(res, 400, 'SerializationException', 'body is not JSON');
        return;
      }
      const target = req.headers['x-amz-target'] as string | undefined;
      calls.push({
        target,
        contentType: req.headers['content-type'],
        authorization: req.headers['authorization'],
        body,
      });
      if (target !== 'secretsmanager.GetSecretValue') {
        fail(res, 400, 'UnknownOperationException', `operation ${target ?? '(none)'} is not served here`);
        return;
      }
      const name = byId(String(body['SecretId'] ?? ''));
      const versions = name === undefined ? undefined : secrets.get(name);
      if (name === undefined || versions === undefined) {
        fail(res, 400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
        return;
      }
      const versionId = body['VersionId'] as string | undefined;
      const stage =
        (body['VersionStage'] as string | undefined) ?? (versionId === undefined ? 'AWSCURRENT' : undefined);
      const version = versions.find(
        (v) =>
          (versionId === undefined || v.id === versionId) &&
          (stage === undefined || v.stages.includes(stage)),
      );
      if (version === undefined) {
        fail(
          res,
          400,
          'ResourceNotFoundException',
          "Secrets Manager can't find the specified secret value for staging label: " + String(stage),
        );
        return;
      }
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(
        JSON.stringify({
          ARN: arn(name),
          Name: name,
          VersionId: version.id,
          ...('binary' in version.payload
            ? { SecretBinary: Buffer.from(version.payload.binary).toString('base64') }
            : { SecretString: version.payload.text }),
          VersionStages: version.stages,
          CreatedDate: version.created / 1000,
        }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    calls,
    reads: (name) =>
      calls.filter(
        (c) => c.target === 'secretsmanager.GetSecretValue' && byId(String(c.body['SecretId'])) === name,
      ).length,
    put(name, payload, stages = ['AWSCURRENT'], options = {}) {
      const versions = secrets.get(name) ?? [];
      secrets.set(name, versions);
      if (options.kmsKeyId !== undefined) keys.set(name, options.kmsKeyId);
      if (options.arn !== undefined) arns.set(name, options.arn);
      const id = randomUUID();
      versions.push({ id, payload, stages: [], created: Date.now() });
      for (const stage of stages) moveStage(name, stage, id);
      return id;
    },
    moveStage,
    describe(secretId) {
      const name = byId(secretId);
      return name === undefined ? undefined : { name, arn: arn(name), kmsKeyId: keys.get(name) };
    },
    arn,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      });
      return closed;
    },
  };
}

/** A real SDK client for `endpoint`, with fixed fake credentials and one attempt per call. */
export function secretsManagerClient(endpoint: string): SecretsManagerClient {
  return new SecretsManagerClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    maxAttempts: 1,
  });
}
