import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerError } from '../../lib/errors.ts';
import { createSecretResolver } from '../../lib/secrets/index.ts';

// Every byte value, so any text re-encoding on the wire would show.
const KEYSTORE = new Uint8Array(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256));

interface Seen {
  target: string | undefined;
  contentType: string | undefined;
  authorization: string | undefined;
  body: Record<string, unknown>;
}
const seen: Seen[] = [];
let server: Server;
let endpoint: string;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const body = JSON.parse(text) as Record<string, unknown>;
      seen.push({
        target: req.headers['x-amz-target'] as string | undefined,
        contentType: req.headers['content-type'],
        authorization: req.headers['authorization'],
        body,
      });
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      if (body['SecretId'] === 'prod/keystore') {
        res.end(
          JSON.stringify({
            ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/keystore-AbCdEf',
            Name: 'prod/keystore',
            VersionId: 'EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE',
            SecretBinary: Buffer.from(KEYSTORE).toString('base64'),
            VersionStages: ['AWSCURRENT'],
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
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => new Promise<void>((done) => server.close(() => done())));

function realClient() {
  return new SecretsManagerClient({
    endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    maxAttempts: 1,
  });
}

describe('the real Secrets Manager client over HTTP on 127.0.0.1', () => {
  it('sends GetSecretValue in the JSON protocol and returns SecretBinary byte for byte', async () => {
    const resolver = createSecretResolver({ secretsManager: realClient, env: {}, cwd: '/' });
    const value = await resolver.resolveBytes('secretsmanager:prod/keystore?stage=AWSCURRENT');
    expect(Buffer.from(value.bytes)).toEqual(Buffer.from(KEYSTORE));
    expect(value.text).toBeUndefined();
    expect(value.version).toBe('EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE');
    const request = seen.at(-1)!;
    expect(request.target).toBe('secretsmanager.GetSecretValue');
    expect(request.contentType).toBe('application/x-amz-json-1.1');
    expect(request.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/secretsmanager\/aws4_request/,
    );
    expect(request.body).toEqual({ SecretId: 'prod/keystore', VersionStage: 'AWSCURRENT' });
  });

  it('maps the service error response to ERR_SECRET_NOT_FOUND', async () => {
    const resolver = createSecretResolver({ secretsManager: realClient, env: {}, cwd: '/' });
    const err = await resolver.resolveBytes('secretsmanager:prod/nothing').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BrokerError);
    expect((err as BrokerError).code).toBe('ERR_SECRET_NOT_FOUND');
    expect((err as BrokerError).message).toBe(
      'secret "secretsmanager:prod/nothing" does not exist in Secrets Manager (check the name, region and ?stage=/?version=)',
    );
    expect(seen.at(-1)!.body).toEqual({ SecretId: 'prod/nothing' });
  });
});
