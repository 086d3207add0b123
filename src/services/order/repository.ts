/**
 * Orders as event-sourced aggregates over the event store: load = read the stream and fold it;
 * save = append the decided events with the version that was loaded, the outgoing bus messages
 * riding in the same atomic append (the outbox), and the read side (order view, deadline index,
 * list index) written by that same append as inline projections: the repository folds them over the
 * stream it loads, as it folds the state, and hands the append their views at the loaded version.
 */
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import {
  type EventStore,
  type ExpectedVersion,
  foldInto,
  type InlineProjection,
  type InlineProjectionUpdate,
  inlineUpdate,
  type StoredEvent,
} from "../../lib/eventstore/index.js";
import { fromStoredEvent, type OrderDomainEvent, toNewEvent } from "./events.js";
import { orderStreamId } from "./keys.js";
import { evolve, type OrderState } from "./state.js";

export interface LoadedOrder {
  state: OrderState;
  /** Stream version the state was folded from: the expected version of the next append. */
  version: number;
  /** Metadata of the created event (e.g. the request hash of an Idempotency-Key). */
  createdMetadata: Record<string, string>;
  /** Epoch ms of the stream's last event: the next append is recorded no earlier. */
  lastRecordedAt: number;
}

/**
 * Orders whose folded state is kept between steps by default (least recently used beyond this are
 * dropped): the bound of this cache's heap, a few KB per order. `ORDER_CACHE_SIZE` sets it.
 */
export const DEFAULT_CACHED_ORDERS = 10_000;

/** A loaded order with its inline projections' views (one map per projection, in their order). */
interface CachedOrder extends LoadedOrder {
  views: readonly ReadonlyMap<string, unknown>[];
}

export interface OrderRepositoryOptions {
  cacheSize?: number | undefined;
  /**
   * Projections written by every append (inline, read-your-writes), in this order. Every writer of
   * the orders' streams must pass the same ones, or views miss events.
   */
  inline?: readonly InlineProjection<unknown>[];
}

export class OrderRepository {
  /**
   * Folded states by order, each with the stream version it was folded from. A load reads only the
   * events after that version, so a step decodes and folds what is new, not the whole history;
   * the stream stays the truth (an append made elsewhere is read, a stale version cannot append).
   */
  private readonly cache = new Map<string, CachedOrder>();

  private readonly cacheSize: number;
  private readonly inline: readonly InlineProjection<unknown>[];

  constructor(
    readonly events: EventStore,
    options: OrderRepositoryOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHED_ORDERS;
    this.inline = options.inline ?? [];
  }

  async load(orderId: string): Promise<LoadedOrder | undefined> {
    const cached = this.cache.get(orderId);
    const stored = await this.events.read(
      orderStreamId(orderId),
      cached ? { fromVersion: cached.version + 1 } : {},
    );
    if (cached && stored.length === 0) return cached;
    let state = cached?.state;
    for (const event of stored) {
      const decoded = fromStoredEvent(event);
      if (decoded) state = evolve(state, decoded);
    }
    if (!state) return undefined;
    const last = stored.at(-1);
    const loaded: CachedOrder = {
      state,
      version: (cached?.version ?? 0) + stored.length,
      createdMetadata: cached?.createdMetadata ?? stored[0]?.metadata ?? {},
      lastRecordedAt: last ? Date.parse(last.recordedAt) : (cached?.lastRecordedAt ?? 0),
      views: this.foldViews(cached?.views, stored),
    };
    this.remember(orderId, loaded);
    return loaded;
  }

  /** The inline projections' views after `events`, from `prior` (copied, never modified). */
  private foldViews(
    prior: readonly ReadonlyMap<string, unknown>[] | undefined,
    events: readonly StoredEvent[],
  ): ReadonlyMap<string, unknown>[] {
    return this.inline.map(({ projection }, i) => {
      const views = new Map(prior?.[i]);
      foldInto(projection, views, events);
      return views;
    });
  }

  /** The inline projections' views at `expectedVersion`: from the cache, else folded from the stream. */
  private async viewsAt(orderId: string, expectedVersion: ExpectedVersion) {
    if (this.inline.length === 0) return [];
    if (expectedVersion === "no_stream" || expectedVersion === 0) return this.foldViews(undefined, []);
    const cached = this.cache.get(orderId);
    if (cached && cached.version === expectedVersion) return cached.views;
    if (expectedVersion === "any") return this.foldViews(undefined, []); // refused by the append
    const history = await this.events.read(orderStreamId(orderId), { toVersion: expectedVersion });
    return this.foldViews(undefined, history);
  }

  private remember(orderId: string, loaded: CachedOrder): void {
    this.cache.delete(orderId);
    this.cache.set(orderId, loaded);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
  }

  /**
   * Appends events and outbox atomically, recorded at `recordedAt` (epoch ms, the saga's clock);
   * throws `ConcurrencyError` (retryable) if the stream moved.
   */
  async save(
    orderId: string,
    expectedVersion: ExpectedVersion,
    events: readonly OrderDomainEvent[],
    outbox: readonly OutgoingMessage[],
    recordedAt?: number,
  ): Promise<number> {
    const prior = await this.viewsAt(orderId, expectedVersion);
    const inline: InlineProjectionUpdate<unknown>[] = this.inline.map((p, i) =>
      inlineUpdate(p, prior[i] ?? new Map()),
    );
    const result = await this.events.append(orderStreamId(orderId), events.map(toNewEvent), {
      expectedVersion,
      outbox,
      ...(recordedAt === undefined ? {} : { recordedAt }),
      ...(inline.length === 0 ? {} : { inline }),
    });
    const cached = this.cache.get(orderId);
    if (cached && cached.version === expectedVersion) {
      const state = events.reduce<OrderState>((current, event) => evolve(current, event), cached.state);
      const lastRecordedAt = recordedAt ?? cached.lastRecordedAt;
      const views = inline.map((update) => update.views);
      this.remember(orderId, { ...cached, state, version: result.nextVersion, lastRecordedAt, views });
    } else {
      this.cache.delete(orderId);
    }
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
