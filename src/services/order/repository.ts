/**
 * Orders as event-sourced aggregates over the event store: load = read the stream and fold it;
 * save = append the decided events with the version that was loaded, the outgoing bus messages
 * riding in the same atomic append (the outbox), and the read side (order view, deadline index,
 * list index) written by that same append as inline projections: the repository folds them over the
 * stream it loads, as it folds the state, and hands the append their views at the loaded version.
 */
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import {
  type AppendResult,
  ConcurrencyError,
  type EventMark,
  type EventStore,
  type ExpectedVersion,
  foldInto,
  type InlineProjection,
  type InlineProjectionUpdate,
  type Projection,
  inlineUpdate,
  isMarked,
  type StoredEvent,
} from "../../lib/eventstore/index.js";
import { fromStoredEvent, type OrderDomainEvent, type OrderProjection, toNewEvent } from "./events.js";
import { orderStreamId } from "./keys.js";
import { evolve, type OrderState, sagaSettled } from "./state.js";

export interface LoadedOrder {
  state: OrderState;
  /** Stream version the state was folded from: the expected version of the next append. */
  version: number;
  /** Metadata of the created event (e.g. the request hash of an Idempotency-Key). */
  createdMetadata: Record<string, string>;
  /** Epoch ms of the stream's last event: the next append is recorded no earlier. */
  lastRecordedAt: number;
  /** Set when this is the cached state, not checked against the store (`load`'s `trustCache`). */
  unverified?: true;
}

/**
 * Orders whose folded state is kept between steps by default (least recently used beyond this are
 * dropped): the bound of this cache's heap, a few KB per order. `ORDER_CACHE_SIZE` sets it. An order
 * whose saga is settled (`sagaSettled`: delivered, failed or cancelled with every compensation
 * answered) leaves it at once: it is done, and would otherwise hold its few KB until 10,000 newer
 * orders pushed it out (~31 MB at the bound, break-order F5). A late event for it reads its stream.
 */
export const DEFAULT_CACHED_ORDERS = 10_000;

/** A loaded order with its inline projections' views (one map per projection, in their order). */
interface CachedOrder extends LoadedOrder {
  views: readonly ReadonlyMap<string, unknown>[];
  /** The stored event at `version`, as far as known: a load checks that the stream still holds it. */
  tail: EventMark;
}

/**
 * The mark of a stored event: position, type, time and its append's id. The id is what tells it
 * apart after Redis went back as a whole (the other three can then be another event's); an event
 * stored without one (before append ids) is marked by the other three alone.
 */
function markOf(event: StoredEvent): EventMark {
  return {
    globalPosition: event.globalPosition,
    type: event.type,
    recordedAt: event.recordedAt,
    appendId: event.appendId,
  };
}

/** An inline projection of order streams: an append folds its events from their decoded form. */
export interface OrderInlineProjection<V> extends InlineProjection<V> {
  projection: OrderProjection<V>;
}

export interface OrderRepositoryOptions {
  cacheSize?: number | undefined;
  /**
   * Projections written by every append (inline, read-your-writes), in this order. Every writer of
   * the orders' streams must pass the same ones, or views miss events.
   */
  inline?: readonly OrderInlineProjection<unknown>[];
}

/**
 * `projection` as one append folds it: each appended event (stored form, as the adapter builds it)
 * paired with the domain event it was encoded from, `decided[i]` for the event at version
 * `firstVersion + i`, so the fold does not parse back by its schema what this process has just
 * encoded from events typed by the saga's code. An event that does not pair (no such index, another
 * type) is decoded from its stored form.
 */
function foldingDecided<V>(
  projection: OrderProjection<V>,
  decided: readonly OrderDomainEvent[],
  firstVersion: number,
): Projection<V> {
  return {
    name: projection.name,
    keyOf: (stored) => projection.keyOf(stored),
    apply: (view, stored) => {
      const event = decided[stored.version - firstVersion];
      const paired = event?.type === stored.type ? event : fromStoredEvent(stored);
      return projection.applyEvent(view, paired, stored);
    },
  };
}

export class OrderRepository {
  /**
   * Folded states by order, each with the stream version it was folded from. A load reads only the
   * event at that version (checked: still the cached one) and those after it, so a step decodes and
   * folds what is new, not the whole history; the stream stays the truth (an append made elsewhere
   * is read, a stale version cannot append, a stream that lost the cached events is read whole).
   */
  private readonly cache = new Map<string, CachedOrder>();

  private readonly cacheSize: number;
  private readonly inline: readonly OrderInlineProjection<unknown>[];

  constructor(
    readonly events: EventStore,
    options: OrderRepositoryOptions = {},
  ) {
    this.cacheSize = options.cacheSize ?? DEFAULT_CACHED_ORDERS;
    this.inline = options.inline ?? [];
  }

  /**
   * The order as stored: the cached order's last event and the events after it are read (one round
   * trip), and the new ones folded. A stream that no longer holds that event (shorter than the cache,
   * or a different event at its version: Redis lost its last writes, e.g. a host crash under AOF
   * everysec or a failover to an async replica) drops the cached order, and the whole stream is read
   * and folded: the stream is the truth, even when it went back.
   * With `trustCache`, a cached order is returned without reading (`unverified`): for a caller whose
   * next step is an append at that version (its check is the arbiter: a stale state is refused, with
   * the events it missed, see `save`), or who verifies a decision that appends nothing.
   */
  async load(orderId: string, options: { trustCache?: boolean } = {}): Promise<LoadedOrder | undefined> {
    const streamId = orderStreamId(orderId);
    const cached = this.cache.get(orderId);
    if (cached && options.trustCache) return { ...cached, unverified: true };
    if (cached) {
      const [last, ...after] = await this.events.read(streamId, { fromVersion: cached.version });
      if (last?.version === cached.version && isMarked(last, cached.tail)) {
        return after.length === 0 ? cached : this.fold(orderId, cached, after);
      }
      this.cache.delete(orderId);
    }
    return this.fold(orderId, undefined, await this.events.read(streamId));
  }

  /** Folds `stored` (the events after `cached`, or the whole stream) and caches the result. */
  private fold(orderId: string, cached: CachedOrder | undefined, stored: readonly StoredEvent[]) {
    let state = cached?.state;
    for (const event of stored) {
      const decoded = fromStoredEvent(event);
      if (decoded) state = evolve(state, decoded);
    }
    const last = stored.at(-1);
    // A state comes from `cached` or from events, so a tail does too (the last event's, or cached's).
    const tail = last ? markOf(last) : cached?.tail;
    if (!state || !tail) return undefined;
    const loaded: CachedOrder = {
      state,
      version: (cached?.version ?? 0) + stored.length,
      createdMetadata: cached?.createdMetadata ?? stored[0]?.metadata ?? {},
      lastRecordedAt: last ? Date.parse(last.recordedAt) : (cached?.lastRecordedAt ?? 0),
      views: this.foldViews(cached?.views, stored),
      tail,
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

  /** How many orders' folded states are cached (settled ones never are). */
  get cachedOrders(): number {
    return this.cache.size;
  }

  private remember(orderId: string, loaded: CachedOrder): void {
    this.cache.delete(orderId);
    // Without a cached state the next append checks the expected version alone, against the
    // stream a load reads whole: the lost-write check (`expectedLast`) needs nothing cached.
    if (sagaSettled(loaded.state)) return;
    this.cache.set(orderId, loaded);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
  }

  /**
   * Appends events and outbox atomically, recorded at `recordedAt` (epoch ms, the saga's clock);
   * throws `ConcurrencyError` (retryable) if the stream moved, `AppendDeadlineError` (nothing
   * written) when the store's clock is past `applyBy` (epoch ms: the gateway's deadline, break35 F1).
   */
  async save(
    orderId: string,
    expectedVersion: ExpectedVersion,
    events: readonly OrderDomainEvent[],
    outbox: readonly OutgoingMessage[],
    recordedAt?: number,
    applyBy?: number,
  ): Promise<number> {
    const prior = await this.viewsAt(orderId, expectedVersion);
    // The append stores `events` at the versions after the expected one, in order.
    const firstVersion = (typeof expectedVersion === "number" ? expectedVersion : 0) + 1;
    const inline: InlineProjectionUpdate<unknown>[] = this.inline.map(({ projection, target }, i) =>
      inlineUpdate(
        { projection: foldingDecided(projection, events, firstVersion), target },
        prior[i] ?? new Map(),
      ),
    );
    const newEvents = events.map(toNewEvent);
    const known = this.cache.get(orderId);
    // The cached state was decided on: refused if the stream holds another event at its version.
    const expectedLast = known && known.version === expectedVersion ? known.tail : undefined;
    let result: AppendResult;
    try {
      result = await this.events.append(orderStreamId(orderId), newEvents, {
        expectedVersion,
        outbox,
        ...(expectedLast ? { expectedLast } : {}),
        ...(recordedAt === undefined ? {} : { recordedAt }),
        ...(applyBy === undefined ? {} : { applyBy }),
        ...(inline.length === 0 ? {} : { inline }),
      });
    } catch (error) {
      if (error instanceof ConcurrencyError) this.catchUp(orderId, expectedVersion, error);
      throw error;
    }
    const cached = expectedVersion === "no_stream" ? undefined : this.cache.get(orderId);
    const views = inline.map((update) => update.views);
    const lastEvent = events.at(-1);
    const tail: EventMark | undefined = lastEvent && {
      globalPosition: result.positions.at(-1),
      type: lastEvent.type,
      recordedAt: recordedAt === undefined ? undefined : new Date(recordedAt).toISOString(),
      // Unique to this append: the position, type and time can be another event's after Redis went
      // back as a whole (its position counter with it) and another instance appended (break33 F1).
      appendId: result.appendId,
    };
    if (cached && cached.version === expectedVersion) {
      const state = events.reduce<OrderState>((current, event) => evolve(current, event), cached.state);
      const lastRecordedAt = recordedAt ?? cached.lastRecordedAt;
      this.remember(orderId, {
        ...cached,
        state,
        version: result.nextVersion,
        lastRecordedAt,
        views,
        tail: tail ?? cached.tail,
      });
    } else if (tail && expectedVersion === "no_stream" && recordedAt !== undefined) {
      // A new order: its first step reads nothing (the state is the one just written).
      const state = events.reduce<OrderState | undefined>(evolve, undefined) as OrderState;
      const createdMetadata = { ...newEvents[0]?.metadata };
      this.remember(orderId, {
        state,
        version: result.nextVersion,
        createdMetadata,
        lastRecordedAt: recordedAt,
        views,
        tail,
      });
    } else {
      this.cache.delete(orderId);
    }
    return result.nextVersion;
  }

  /**
   * After a refused append: the cached order caught up from the events it missed when the store
   * sent them (Redis reads them in the refusing script), else dropped (the next load reads them).
   */
  private catchUp(orderId: string, expectedVersion: ExpectedVersion, error: ConcurrencyError): void {
    const cached = this.cache.get(orderId);
    const missed = error.missed;
    if (!cached || cached.version !== expectedVersion || missed?.[0]?.version !== cached.version + 1) {
      this.cache.delete(orderId);
      return;
    }
    this.fold(orderId, cached, missed);
  }

  /** The order's stored history, oldest first (empty for an unknown order). */
  history(orderId: string): Promise<StoredEvent[]> {
    return this.events.read(orderStreamId(orderId));
  }

  version(orderId: string): Promise<number> {
    return this.events.version(orderStreamId(orderId));
  }
}
