/**
 * An in-process dynalite (pure-JS DynamoDB) on 127.0.0.1 for tests, and a real
 * DynamoDBClient pointed at it.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';

// The SDK warns once per process about Node 20 support; that is noise in test output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

type DynaliteFactory = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

const dynalite = createRequire(import.meta.url)('dynalite') as DynaliteFactory;

/** Fixed fake credentials: dynalite accepts any signature. */
export const FAKE_CREDENTIALS = { accessKeyId: 'AKIDTESTTEST', secretAccessKey: 'test-secret-not-real' };

/** A real DynamoDBClient for `endpoint` with the fake credentials. */
export function clientFor(endpoint: string, overrides: Partial<DynamoDBClientConfig> = {}): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: FAKE_CREDENTIALS, ...overrides });
}

export interface Dynalite {
  readonly endpoint: string;
  /** A client for this endpoint; `overrides` e.g. `{ maxAttempts: 1 }`. */
  client(overrides?: Partial<DynamoDBClientConfig>): DynamoDBClient;
  /** Stops the server (idempotent). Clients made before then see connection errors. */
  close(): Promise<void>;
}

/** Starts dynalite on 127.0.0.1, port 0, with instant table creation. */
export async function startDynalite(): Promise<Dynalite> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;
  let closed: Promise<void> | undefined;
  return {
    endpoint,
    client(overrides = {}) {
      return new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: FAKE_CREDENTIALS,
        ...overrides,
      });
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets of the SDK would hold the server open.
        server.closeAllConnections?.();
      });
      return closed;
    },
  };
}
