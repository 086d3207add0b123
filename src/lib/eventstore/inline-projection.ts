/**
 * Inline projections: views written in the same atomic step as the events that change them (the
 * append's Lua script on Redis, the append's synchronous critical section in memory), so a reader
 * never sees an event without its view (read-your-writes) and nothing polls the global log.
 *
 * The library knows nothing of what a view means. A caller that owns a stream's history (e.g. a
 * repository that folded the stream to decide) hands `append` one `InlineUpdate` per projection,
 * built by `inlineUpdate(projection, target, prior)` from the views as they were at the expected
 * version. The adapter builds the appended events as they will be stored, folds them into those
 * views with the projection's pure `apply`, and writes the changed views through the target, after
 * the version check and in the same step: if the append is refused, no view is written.
 *
 * Rules:
 * - `expectedVersion` must pin the stream (a number or `"no_stream"`): with `"any"` the prior views
 *   could be stale, so an inline append with `"any"` is refused (`InvalidAppendError`).
 * - `apply` must not read `globalPosition`: on Redis it is assigned inside the script, after the
 *   fold (the view record's `position` is spliced in there, see `InlineArg`).
 * - Views keep `{ position, value }` records like the projection runner's, so `ProjectionRunner`
 *   can rebuild them from the global log (with writers stopped: see docs/storage.md).
 */
import { InvalidAppendError } from "./errors.js";
import type { StoredEvent } from "./event-store.js";
import type { Projection } from "./projection.js";
import type { ViewRecord } from "./read-model-store.js";

/**
 * One argument of an inline Redis write: a string, or a string with the global position of one
 * appended event (0-based index in the append) between `before` and `after`.
 */
export type InlineArg = string | { before: string; event: number; after: string };

/** Commands an inline write may run (all key-scoped writes the read models need). */
export const INLINE_COMMANDS = ["HSET", "HDEL", "ZADD", "ZREM"] as const;
export type InlineCommand = (typeof INLINE_COMMANDS)[number];

/** One Redis write run by the append's script; `key` must carry the store's hash tag. */
export interface InlineRedisWrite {
  command: InlineCommand;
  key: string;
  args: readonly InlineArg[];
}

/** A view after an append, with the appended event (0-based) that last changed it. */
export interface InlineView<V> {
  event: number;
  value: V;
}

/** Where an inline projection's views go: a read-model store implements the side of its adapter. */
export interface InlineTarget<V> {
  /** Memory adapters: writes the views at once (called inside the append's critical section). */
  applyInline?(views: ReadonlyMap<string, ViewRecord<V>>): void;
  /** Redis adapters: the writes of the views, run by the append's script after its version check. */
  inlineWrites?(views: ReadonlyMap<string, InlineView<V>>): InlineRedisWrite[];
}

/** What an event store adapter asks of one inline projection during an append. */
export interface InlineUpdate {
  /** The projection's name (errors, tracing). */
  readonly name: string;
  /**
   * Memory adapter: folds `appended` (positions known) and returns the write of the changed views,
   * for the adapter to call in the same synchronous step as it stores the events (a fold that
   * throws has written nothing).
   */
  prepareInMemory(appended: readonly StoredEvent[]): () => void;
  /** Redis adapter: folds `appended` and returns the writes of the changed views. */
  redisWrites(appended: readonly StoredEvent[]): InlineRedisWrite[];
}

/** An `InlineUpdate` whose resulting views the caller can read once the append succeeded. */
export interface InlineProjectionUpdate<V> extends InlineUpdate {
  /** Every view of `prior` plus those the append changed; set by the fold (empty before it). */
  readonly views: ReadonlyMap<string, V>;
}

/** A projection kept inline, and where its views are written. */
export interface InlineProjection<V> {
  projection: Projection<V>;
  target: InlineTarget<V>;
}

/** Folds `events` into `views` (mutated): the changed keys with the index of their last event. */
export function foldInto<V>(
  projection: Projection<V>,
  views: Map<string, V>,
  events: readonly StoredEvent[],
): Map<string, InlineView<V>> {
  const changed = new Map<string, InlineView<V>>();
  events.forEach((event, index) => {
    const key = projection.keyOf(event);
    if (key === undefined) return;
    const value = projection.apply(views.get(key), event);
    views.set(key, value);
    changed.set(key, { event: index, value });
  });
  return changed;
}

/**
 * The inline update of one projection from `prior` (its views at the append's expected version;
 * only the keys the appended events can touch are needed). `prior` is not modified.
 */
export function inlineUpdate<V>(
  { projection, target }: InlineProjection<V>,
  prior: ReadonlyMap<string, V>,
): InlineProjectionUpdate<V> {
  let views: ReadonlyMap<string, V> = new Map();
  const fold = (appended: readonly StoredEvent[]) => {
    const next = new Map(prior);
    const changed = foldInto(projection, next, appended);
    views = next;
    return changed;
  };
  return {
    name: projection.name,
    get views() {
      return views;
    },
    prepareInMemory(appended) {
      const apply = target.applyInline?.bind(target);
      if (!apply) throw new InvalidAppendError(`inline projection "${projection.name}" has no memory target`);
      const changed = fold(appended);
      const records = new Map<string, ViewRecord<V>>();
      for (const [key, view] of changed) {
        records.set(key, { position: appended[view.event]?.globalPosition ?? "", value: view.value });
      }
      return () => apply(records);
    },
    redisWrites(appended) {
      if (!target.inlineWrites)
        throw new InvalidAppendError(`inline projection "${projection.name}" has no Redis target`);
      return target.inlineWrites(fold(appended));
    },
  };
}

/**
 * A view record as JSON with the position of appended event `event` spliced in by the script:
 * the same bytes as `JSON.stringify({ position, value })`.
 */
export function viewRecordArg<V>(view: InlineView<V>): InlineArg {
  return { before: '{"position":"', event: view.event, after: `","value":${JSON.stringify(view.value)}}` };
}
