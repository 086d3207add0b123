/**
 * Orders as event-sourced aggregates over the event store: load = read the stream and fold it;
 * save = append the decided events with the version that was loaded, the outgoing bus messages
 * riding in the same atomic append (the outbox).
 */
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { EventStore, ExpectedVersion, StoredEvent } from "../../lib/eventstore/index.js";
import { type OrderDomainEvent, toNewEvent } from "./events.js";
import { orderStreamId } from "./keys.js";
import { foldStored, type OrderState } from "./state.js";

export interface LoadedOrder {
  state: OrderState;
  /** Stream version the state was folded from: the expected version of the next append. */
  version: number;
  /** Metadata of the created event (e.g. the request hash of an Idempotency-Key). */
  createdMetadata: Record<string, string>;
}

export class OrderRepository {
  constructor(readonly events: EventStore) {}

  async load(orderId: string): Promise<LoadedOrder | undefined> {
    const stored = await this.events.read(orderStreamId(orderId));
    const state = foldStored(stored);
    if (!state) return undefined;
    return { state, version: stored.length, createdMetadata: stored[0]?.metadata ?? {} };
  }

  /** Appends events and outbox atomically; throws `ConcurrencyError` (retryable) if the stream moved. */
  async save(
    orderId: string,
    expectedVersion: ExpectedVersion,
    events: readonly OrderDomainEvent[],
    outbox: readonly OutgoingMessage[],
  ): Promise<number> {
    const result = await this.events.append(orderStreamId(orderId), events.map(toNewEvent), {
      expectedVersion,
      outbox,
    });
    return result.nextVersion;
  }

  /** The order's stored history, oldest first (empty for an unknown order). */
  history(orderId: string): Promise<StoredEvent[]> {
    return this.events.read(orderStreamId(orderId));
  }

  version(orderId: string): Promise<number> {
    return this.events.version(orderStreamId(orderId));
  }
}
