/** Where events go: EventBridge on AWS (./eventbridge.ts), JSON lines locally (./json-lines.ts). */
import type { BrokerEvent } from './schema.ts';

/** A destination of events. */
export interface EventSink {
  /**
   * Delivers one event; rejects when it was not accepted, and gives up (rejecting) as soon
   * as `signal` aborts, so no call outlives the emitter's time bound.
   */
  send(event: BrokerEvent, signal?: AbortSignal): Promise<void>;
}
