/**
 * The events' sink on AWS: one `PutEvents` per event on the stack's bus
 * (`TOKEN_BROKER_EVENT_BUS`). The SDK is loaded on first use, and its endpoint follows the
 * SDK's own rules (`AWS_ENDPOINT_URL_EVENTBRIDGE` points it at a local emulator).
 *
 * @see https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
import type * as EventBridgeModule from '@aws-sdk/client-eventbridge';
import type { EventBridgeClient, EventBridgeClientConfig } from '@aws-sdk/client-eventbridge';
import { boundedRequests, loadOnce, namedExports } from '../aws/sdk.ts';
import { EVENT_SOURCE, type BrokerEvent } from './schema.ts';
import type { EventSink } from './sink.ts';

type EventBridgeSdk = typeof EventBridgeModule;

/** Options of {@link createEventBridgeSink}. */
export interface EventBridgeSinkOptions {
  /** The bus name or ARN; `default` is the account's default bus. */
  readonly bus: string;
  /** The client; default one built on first use with `config`. */
  readonly client?: EventBridgeClient;
  readonly config?: EventBridgeClientConfig;
}

/** Each `PutEvents` attempt; the emitter bounds the whole send besides. */
const ATTEMPT_TIMEOUT_MS = 2_000;

/** `@aws-sdk/client-eventbridge`, loaded on first use; a failed import is tried again next time. */
const loadSdk = loadOnce(async () =>
  namedExports<EventBridgeSdk>(
    await import('@aws-sdk/client-eventbridge'),
    'EventBridgeClient',
    '@aws-sdk/client-eventbridge',
  ),
);

/**
 * A sink that puts each event on `bus`.
 *
 * `send` rejects with an Error naming the entry's `ErrorCode` when EventBridge did not
 * accept the event, and with the client's error when the call failed or `signal` aborted
 * it (the request is then abandoned, its retries too).
 */
export function createEventBridgeSink(options: EventBridgeSinkOptions): EventSink {
  let client: Promise<EventBridgeClient> | undefined = options.client && Promise.resolve(options.client);
  const clientOf = (): Promise<EventBridgeClient> => {
    client ??= loadSdk()
      .then(
        ({ EventBridgeClient: Client }) =>
          new Client({
            maxAttempts: 2,
            requestHandler: boundedRequests(1_000, ATTEMPT_TIMEOUT_MS),
            ...options.config,
          }),
      )
      .catch((error: unknown) => {
        client = undefined;
        throw error;
      });
    return client;
  };

  return {
    async send(event: BrokerEvent, signal?: AbortSignal): Promise<void> {
      const [{ PutEventsCommand }, eventBridge] = await Promise.all([loadSdk(), clientOf()]);
      signal?.throwIfAborted();
      const answer = await eventBridge.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: EVENT_SOURCE,
              DetailType: event.detailType,
              Detail: JSON.stringify(event.detail),
              EventBusName: options.bus,
              Resources: [],
            },
          ],
        }),
        { abortSignal: signal },
      );
      const entry = answer.Entries?.[0];
      if ((answer.FailedEntryCount ?? 0) > 0 || entry?.EventId === undefined)
        throw new Error(
          `EventBridge did not accept the event: ${entry?.ErrorCode ?? 'no entry in the answer'}`,
        );
    },
  };
}
