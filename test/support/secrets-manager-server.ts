/**
 * A loopback Secrets Manager speaking the service's wire protocol (JSON 1.1,
 * `X-Amz-Target: secretsmanager.GetSecretValue`), for tests that drive the real SDK
 * client. Secrets can be given new versions while it runs (rotation); `?stage=` picks
 * AWSCURRENT (default) or AWSPENDING.
 */
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One version of a secret: binary or string. */
export type SecretPayload = { readonly binary: Uint8Array } | { readonly string: string };

/** A request as the server saw it. */
export interface SeenRequest {
  readonly target: string | undefined;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  readonly body: Record<string, unknown>;
}

export interface SecretsManagerServer {
  readonly endpoint: string;
  readonly seen: SeenRequest[];
  /** Makes `payload` the AWSCURRENT version of `name` (the previous one becomes AWSPREVIOUS). */
  putCurrent(name: string, payload: SecretPayload, versionId: string): void;
  /** Makes `payload` the AWSPENDING version of `name`. */
  putPending(name: string, payload: SecretPayload, versionId: string): void;
  /** GetSecretValue calls for `name` so far. */
  calls(name: string): number;
  /** A real SDK client for this endpoint (fixed fake credentials, one attempt per call). */
  client(): SecretsManagerClient;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface Version {
  readonly payload: SecretPayload;
  readonly versionId: string;
}

export async function startSecretsManagerServer(): Promise<SecretsManagerServer> {
  const seen: SeenRequest[] = [];
  const secrets = new Map<string, { current?: Version; pending?: Version }>();
  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const body = JSON.parse(text) as Record<string, unknown>;
      seen.push({
        target: req.headers['x-amz-target'] as string | undefined,
        contentType: req.headers['content-type'],
        authorization: req.headers['authorization'],
        body,
      });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      const name = String(body['SecretId']);
      const stage = body['VersionStage'] === 'AWSPENDING' ? 'pending' : 'current';
      const version = secrets.get(name)?.[stage];
      if (version) {
        const { payload, versionId } = version;
        res.end(
          JSON.stringify({
            ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`,
            Name: name,
            VersionId: versionId,
            ...('binary' in payload
              ? { SecretBinary: Buffer.from(payload.binary).toString('base64') }
              : { SecretString: payload.string }),
            VersionStages: [stage === 'pending' ? 'AWSPENDING' : 'AWSCURRENT'],
            CreatedDate: 1.523477145713e9,
          }),
        );
        return;
      }
      res.statusCode = 400;
      res.setHeader('x-amzn-errortype', 'ResourceNotFoundException');
      res.end(
        JSON.stringify({
          __type: 'ResourceNotFoundException',
          message: "Secrets Manager can't find the specified secret.",
        }),
      );
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: SecretsManagerClient[] = [];
  return {
    endpoint,
    seen,
    putCurrent(name, payload, versionId) {
      secrets.set(name, { ...secrets.get(name), current: { payload, versionId } });
    },
    putPending(name, payload, versionId) {
      secrets.set(name, { ...secrets.get(name), pending: { payload, versionId } });
    },
    calls: (name) => seen.filter((request) => request.body['SecretId'] === name).length,
    client() {
      const client = new SecretsManagerClient({
        endpoint,
        region: 'eu-west-1',
        credentials: {
          accessKeyId: 'AKIDEXAMPLE',
          secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
        },
        maxAttempts: 1,
      });
      clients.push(client);
      return client;
    },
    async close() {
      for (const client of clients) client.destroy();
      server.closeAllConnections();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}
