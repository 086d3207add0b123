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
  /** Removes every view and the checkpoint. */
  clear(): Promise<void>;
}

/**
 * Read model in process memory. Views are stored as JSON, like on Redis, so both behave alike.
 * Also an inline projection's target (written in the memory event store's append).
 */
export class MemoryReadModelStore<V> implements ReadModelStore<V>, InlineTarget<V> {
  private views = new Map<string, string>();
  private position: string | undefined;

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
}
