/**
 * Where a projection keeps its views: key → view, plus the checkpoint (the last global position
 * applied). Views and checkpoint change together in one `commit`, compare-and-set on the
 * checkpoint, so two runners of one projection can never apply the same batch twice.
 */
import type { InlineTarget } from "./inline-projection.js";

/** A view with the global position of the last event applied to it (makes replays idempotent). */
export interface ViewRecord<V> {
  position: string;
  value: V;
}

export interface ReadModelCommit<V> {
  /** The checkpoint the batch was read after; the commit is refused if it moved meanwhile. */
  expectedCheckpoint: string | undefined;
  /** The new checkpoint. */
  checkpoint: string;
  /** Views written by the batch. */
  views: ReadonlyMap<string, ViewRecord<V>>;
}

export interface ReadModelStore<V> {
  /** The view under `key`, if any event produced one. */
  get(key: string): Promise<V | undefined>;
  /** The views under `keys`, with their positions (keys without a view are absent). */
  load(keys: readonly string[]): Promise<Map<string, ViewRecord<V>>>;
  /** Every view (for rebuild checks and small admin listings). */
  all(): Promise<Map<string, V>>;
  checkpoint(): Promise<string | undefined>;
  /** Writes the views and moves the checkpoint atomically; false when the checkpoint had moved. */
  commit(batch: ReadModelCommit<V>): Promise<boolean>;
  /** Removes every view and the checkpoint (never the rebuild marker). */
  clear(): Promise<void>;
  /**
   * The rebuild marker: the id of a rebuild that cleared this read model and has not yet replayed
   * the log to its end (interrupted or still running), or undefined.
   */
  rebuildMarker(): Promise<string | undefined>;
  /** Sets the rebuild marker to `id` (`ProjectionRunner.rebuild`, before it clears). */
  markRebuild(id: string): Promise<void>;
  /**
   * Removes the rebuild marker if it is still `id` and the checkpoint is still `checkpoint` (the
   * end of the log the replay reached), atomically: a rebuild started since keeps its marker.
   * True when removed.
   */
  unmarkRebuild(id: string, checkpoint: string | undefined): Promise<boolean>;
}

/** The in-memory rebuild marker of a read model (the memory adapters share it). */
export class MemoryRebuildMarker {
  private marker: string | undefined;

  get(): string | undefined {
    return this.marker;
  }

  set(id: string): void {
    this.marker = id;
  }

  /** Removes the marker when it is `id` and `checkpoint` equals `current`. */
  remove(id: string, checkpoint: string | undefined, current: string | undefined): boolean {
    if (this.marker !== id || checkpoint !== current) return false;
    this.marker = undefined;
    return true;
  }
}

/**
 * Read model in process memory. Views are stored as JSON, like on Redis, so both behave alike.
 * Also an inline projection's target (written in the memory event store's append).
 */
export class MemoryReadModelStore<V> implements ReadModelStore<V>, InlineTarget<V> {
  private views = new Map<string, string>();
  private position: string | undefined;
  private readonly marker = new MemoryRebuildMarker();

  async get(key: string): Promise<V | undefined> {
    const json = this.views.get(key);
    return json === undefined ? undefined : (JSON.parse(json) as ViewRecord<V>).value;
  }

  async load(keys: readonly string[]): Promise<Map<string, ViewRecord<V>>> {
    const found = new Map<string, ViewRecord<V>>();
    for (const key of keys) {
      const json = this.views.get(key);
      if (json !== undefined) found.set(key, JSON.parse(json) as ViewRecord<V>);
    }
    return found;
  }

  async all(): Promise<Map<string, V>> {
    return new Map([...this.views].map(([key, json]) => [key, (JSON.parse(json) as ViewRecord<V>).value]));
  }

  async checkpoint(): Promise<string | undefined> {
    return this.position;
  }

  async commit(batch: ReadModelCommit<V>): Promise<boolean> {
    if (batch.expectedCheckpoint !== this.position) return false;
    for (const [key, record] of batch.views) this.views.set(key, JSON.stringify(record));
    this.position = batch.checkpoint;
    return true;
  }

  applyInline(views: ReadonlyMap<string, ViewRecord<V>>): void {
    for (const [key, record] of views) this.views.set(key, JSON.stringify(record));
  }

  async clear(): Promise<void> {
    this.views = new Map();
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
