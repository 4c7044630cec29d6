/**
 * An EventBridge endpoint on 127.0.0.1 speaking the service's JSON 1.1 protocol
 * (`X-Amz-Target: AWSEvents.PutEvents`), for the real SDK client: it keeps every entry as
 * received and answers `{FailedEntryCount, Entries: [{EventId} | {ErrorCode, ErrorMessage}]}`.
 * Point a client at it with `endpoint`, or a Lambda with `AWS_ENDPOINT_URL_EVENTBRIDGE`.
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One entry of a `PutEvents`, as received (`Detail` parsed). */
export interface PutEventsEntry {
  readonly Source: string | undefined;
  readonly DetailType: string | undefined;
  readonly Detail: Record<string, unknown>;
  readonly EventBusName: string | undefined;
  readonly Resources: readonly string[] | undefined;
}

/** A running fake. */
export interface EventBridgeServer {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Entries accepted, oldest first. */
  readonly events: PutEventsEntry[];
  /** `PutEvents` requests seen (accepted or not). */
  readonly requests: () => number;
  /**
   * The next `times` requests (default 1; `Infinity` for all) fail every entry with
   * `code` (default `InternalException`), as the service does: HTTP 200 and a failed entry.
   */
  fail(code?: string, times?: number): void;
  close(): Promise<void>;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify(body));
}

/** Starts the fake on an ephemeral port. */
export async function startEventBridgeServer(): Promise<EventBridgeServer> {
  const events: PutEventsEntry[] = [];
  let failures = 0;
  let failCode = 'InternalException';
  let requests = 0;

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      if (req.method !== 'POST' || req.headers['x-amz-target'] !== 'AWSEvents.PutEvents') {
        answer(res, 400, {
          __type: 'UnknownOperationException',
          message: `unknown operation ${String(req.headers['x-amz-target'])}`,
        });
        return;
      }
      requests += 1;
      const entries = (JSON.parse(body) as { Entries?: Record<string, unknown>[] }).Entries ?? [];
      if (failures > 0) {
        failures -= 1;
        answer(res, 200, {
          FailedEntryCount: entries.length,
          Entries: entries.map(() => ({ ErrorCode: failCode, ErrorMessage: 'the fake was told to fail' })),
        });
        return;
      }
      for (const entry of entries) {
        events.push({
          Source: entry['Source'] as string | undefined,
          DetailType: entry['DetailType'] as string | undefined,
          Detail: JSON.parse(String(entry['Detail'] ?? '{}')) as Record<string, unknown>,
          EventBusName: entry['EventBusName'] as string | undefined,
          Resources: entry['Resources'] as string[] | undefined,
        });
      }
      answer(res, 200, { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) });
    })().catch((error: unknown) => {
      answer(res, 500, { __type: 'InternalException', message: String(error) });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    events,
    requests: () => requests,
    fail(code = 'InternalException', times = 1) {
      failCode = code;
      failures = times;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
