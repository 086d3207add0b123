/**
 * The order service's storage ports and their in-memory adapters:
 * - the event store (the orders' histories, with the outbox written in the same append),
 * - the order view read model,
 * - the deadline index: a read model of running sagas' step deadlines that can list the overdue
 *   ones without scanning every order ever placed (terminal orders leave it).
 * Redis adapters are in `redis-store.ts`.
 */
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import {
  type EventStore,
  type InlineTarget,
  MemoryEventStore,
  MemoryRebuildMarker,
  MemoryReadModelStore,
  type ReadModelCommit,
  type ReadModelStore,
  type ViewRecord,
} from "../../lib/eventstore/index.js";
import type { OrderInlineProjection } from "./repository.js";
import type { OrderProjection } from "./events.js";
import { type IdempotencyRecords, MemoryIdempotencyRecords } from "./idempotency-records.js";
import { ORDER_TAG } from "./keys.js";
import { MemoryOrderListIndex, type OrderListIndex, orderListProjection } from "./order-list.js";
import {
  type DeadlineView,
  deadlineProjection,
  type OrderView,
  orderViewProjection,
  type ShredIntentView,
  shredIntentProjection,
} from "./projections.js";

export interface DeadlineIndex extends ReadModelStore<DeadlineView>, InlineTarget<DeadlineView> {
  /** Orders whose deadline is at or before `now`, earliest first, at most `limit`, skipping the first `offset` (default 0). */
  due(now: number, limit: number, offset?: number): Promise<string[]>;
}

/**
 * Shred intents (the outbox of crypto-shredding): an order whose saga ended, until its payment token
 * key was deleted. Added inline by the append that ends the saga; removed only by `remove`, which
 * the caller must call after the delete succeeded.
 */
export interface ShredIntents extends InlineTarget<ShredIntentView> {
  /** Orders whose saga ended at or before `endedBy` (epoch ms), oldest first, at most `limit`. */
  due(endedBy: number, limit: number): Promise<string[]>;
  /** Drops the order's intent (its token key is gone). Idempotent. */
  remove(orderId: string): Promise<void>;
}

export interface OrderStores {
  events: EventStore;
  /** Where projections read the log from (default `events`): Redis gives them their own connection. */
  projectionEvents?: EventStore;
  /** Written inline by every append of an order (`OrderRepository`), like `deadlines` and `list`. */
  views: ReadModelStore<OrderView> & InlineTarget<OrderView>;
  deadlines: DeadlineIndex;
  /** Order ids by creation time, overall and per user (GET /orders). */
  list: OrderListIndex;
  /** Idempotency-Key records of POST /orders. */
  idempotency: IdempotencyRecords;
  /** Written inline by the append that ends a saga: its token key is to be deleted (shred-sweeper.ts). */
  shredIntents: ShredIntents;
  /** Releases what the stores opened themselves. */
  close?: () => Promise<void>;
}

/**
 * The read models every append of an order writes (inline projections), in a fixed order: the
 * order view, the deadline index, the list index. Every writer of the orders' streams must use
 * them (`OrderRepository`'s `inline` option), or a read model misses events. Last, the shred
 * intents: not a read model (never rebuilt, never read by clients), but the same atomic write.
 */
export function inlineProjections(stores: OrderStores): OrderInlineProjection<unknown>[] {
  const inline = <V>(
    projection: OrderProjection<V>,
    target: InlineTarget<V>,
  ): OrderInlineProjection<unknown> => ({ projection, target });
  return [
    inline(orderViewProjection, stores.views),
    inline(deadlineProjection, stores.deadlines),
    inline(orderListProjection, stores.list),
    inline(shredIntentProjection, stores.shredIntents),
  ];
}

interface Entry {
  position: string;
  deadline: number;
}

/** Deadline index in process memory; a view whose deadline is null is removed, not stored. */
export class MemoryDeadlineIndex implements DeadlineIndex {
  private entries = new Map<string, Entry>();
  private position: string | undefined;
  private readonly marker = new MemoryRebuildMarker();

  async due(now: number, limit: number, offset = 0): Promise<string[]> {
    return [...this.entries]
      .filter(([, e]) => e.deadline <= now)
      .sort(([, a], [, b]) => a.deadline - b.deadline)
      .slice(offset, offset + limit)
      .map(([id]) => id);
  }

  async get(key: string): Promise<DeadlineView | undefined> {
    const entry = this.entries.get(key);
    return entry ? { deadline: entry.deadline } : undefined;
  }

  async load(keys: readonly string[]): Promise<Map<string, ViewRecord<DeadlineView>>> {
    const found = new Map<string, ViewRecord<DeadlineView>>();
    for (const key of keys) {
      const entry = this.entries.get(key);
      if (entry) found.set(key, { position: entry.position, value: { deadline: entry.deadline } });
    }
    return found;
  }

  async all(): Promise<Map<string, DeadlineView>> {
    return new Map([...this.entries].map(([id, e]) => [id, { deadline: e.deadline }]));
  }

  async checkpoint(): Promise<string | undefined> {
    return this.position;
  }

  async commit(batch: ReadModelCommit<DeadlineView>): Promise<boolean> {
    if (batch.expectedCheckpoint !== this.position) return false;
    this.applyInline(batch.views);
    this.position = batch.checkpoint;
    return true;
  }

  applyInline(views: ReadonlyMap<string, ViewRecord<DeadlineView>>): void {
    for (const [id, record] of views) {
      const deadline = record.value.deadline;
      if (deadline === null) this.entries.delete(id);
      else this.entries.set(id, { position: record.position, deadline });
    }
  }

  async clear(): Promise<void> {
    this.entries = new Map();
    this.position = undefined;
  }

  async rebuildMarker(): Promise<string | undefined> {
    return this.marker.get();
  }

  async markRebuild(id: string): Promise<void> {
    this.marker.set(id);
  }

  async unmarkRebuild(id: string, checkpoint: string | undefined): Promise<boolean> {
    return this.marker.remove(id, checkpoint, this.position);
  }
}

/** Shred intents in process memory (embedded mode: the token keys are in memory too). */
export class MemoryShredIntents implements ShredIntents {
  private readonly intents = new Map<string, number>();

  async due(endedBy: number, limit: number): Promise<string[]> {
    return [...this.intents]
      .filter(([, endedAt]) => endedAt <= endedBy)
      .sort(([, a], [, b]) => a - b)
      .slice(0, limit)
      .map(([id]) => id);
  }

  async remove(orderId: string): Promise<void> {
    this.intents.delete(orderId);
  }

  applyInline(views: ReadonlyMap<string, ViewRecord<ShredIntentView>>): void {
    for (const [id, record] of views) {
      const endedAt = record.value.endedAt;
      if (endedAt !== null) this.intents.set(id, endedAt);
    }
  }
}

export interface MemoryOrderStoresOptions {
  /** Where outbox messages go (the platform transport's publish). */
  publish: (messages: readonly OutgoingMessage[]) => Promise<void>;
  now?: () => number;
}

export function createMemoryOrderStores(options: MemoryOrderStoresOptions): OrderStores {
  return {
    events: new MemoryEventStore({
      tag: ORDER_TAG,
      publish: options.publish,
      ...(options.now ? { now: options.now } : {}),
    }),
    views: new MemoryReadModelStore<OrderView>(),
    deadlines: new MemoryDeadlineIndex(),
    list: new MemoryOrderListIndex(),
    idempotency: new MemoryIdempotencyRecords(options.now),
    shredIntents: new MemoryShredIntents(),
  };
}
