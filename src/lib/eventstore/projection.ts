/**
 * Projections: pure folds of the global event log into keyed views (e.g. order id → order view),
 * kept current by a runner that reads `readAll` after its checkpoint.
 *
 * Exactly-once, without trusting the runner: each batch commits its views and the new checkpoint
 * atomically, compare-and-set on the old checkpoint (a second runner's overlapping batch is
 * refused and re-read), and each view remembers the position of the last event applied to it, so
 * replaying from an older checkpoint skips what the view already contains.
 *
 * A rebuild marks the read model before it clears it and unmarks it only once its replay reached
 * the end of the log, so a rebuild that has not finished (killed midway: the read model partial
 * for good; or still running) is seen by `unfinishedRebuild`. The remedy is `rebuild()` again: a
 * catch-up cannot repair it, since a clear of many keys (the order list's) killed midway leaves any
 * subset of them (break43 F1), and a catch-up beside a rebuild still clearing has its work deleted
 * (break43 F2).
 */
import { randomUUID } from "node:crypto";
import type { EventStore, StoredEvent } from "./event-store.js";
import type { ReadModelStore, ViewRecord } from "./read-model-store.js";

export interface Projection<V> {
  /** Names the read model (its Redis keys): change it when `apply` changes meaning, then rebuild. */
  readonly name: string;
  /** The view an event changes, or undefined when this projection ignores the event. */
  keyOf(event: StoredEvent): string | undefined;
  /** Pure: the view after `event`; `view` is undefined for the first event of a key. JSON only. */
  apply(view: V | undefined, event: StoredEvent): V;
}

export interface ProjectionRunnerOptions<V> {
  events: Pick<EventStore, "readAll">;
  projection: Projection<V>;
  readModel: ReadModelStore<V>;
  /** Events per batch, i.e. per atomic commit (default 100). */
  batchSize?: number;
  /** Failures of background polling (`start`); `catchUp` and `rebuild` reject instead. */
  onError?: (error: unknown) => void;
}

export class ProjectionRunner<V> {
  private readonly options: ProjectionRunnerOptions<V>;
  private readonly batchSize: number;
  /** Serialises catch-ups of this runner: the poller and explicit calls never overlap. */
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private polled: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(options: ProjectionRunnerOptions<V>) {
    this.options = options;
    this.batchSize = options.batchSize ?? 100;
  }

  /** Applies every event after the checkpoint; resolves with how many events were committed. */
  catchUp(): Promise<number> {
    return this.enqueue(async () => (await this.drain()).committed);
  }

  /**
   * Clears the read model and checkpoint and replays the whole log. The read model's rebuild marker
   * is set before the clear and removed once the replay reached the end of the log: a rebuild that
   * dies midway leaves it (`unfinishedRebuild`); running `rebuild()` again completes the clear and
   * replays from the start.
   */
  rebuild(): Promise<number> {
    return this.enqueue(async () => {
      const { readModel } = this.options;
      const id = randomUUID();
      await readModel.markRebuild(id);
      await readModel.clear();
      const { committed, checkpoint } = await this.drain();
      await readModel.unmarkRebuild(id, checkpoint);
      return committed;
    });
  }

  /**
   * The marker of a rebuild of this read model that has not finished (interrupted, or still running
   * somewhere), or undefined. A read model so marked is partial: run `rebuild()` again (with every
   * writer stopped) before serving from it.
   */
  unfinishedRebuild(): Promise<string | undefined> {
    return this.options.readModel.rebuildMarker();
  }

  /** Catches up now and then every `intervalMs` until `stop()`. */
  start({ intervalMs }: { intervalMs: number }): void {
    if (this.polling) return;
    this.polling = true;
    this.polled = this.poll(intervalMs);
  }

  /** Stops polling and waits for the batch in progress to commit or fail. */
  async stop(): Promise<void> {
    this.polling = false;
    clearTimeout(this.timer);
    this.wake?.();
    await this.polled;
    await this.queue;
  }

  private async poll(intervalMs: number): Promise<void> {
    while (this.polling) {
      try {
        await this.catchUp();
      } catch (error) {
        this.options.onError?.(error);
      }
      if (!this.polling) return;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, intervalMs);
      });
    }
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Catches up to the end of the log: how many events were committed, and the checkpoint reached. */
  private async drain(): Promise<{ committed: number; checkpoint: string | undefined }> {
    let committed = 0;
    for (;;) {
      const outcome = await this.step();
      // "moved": another runner committed first; re-read from its checkpoint.
      if (outcome === "moved") continue;
      committed += outcome.count;
      if (outcome.count < this.batchSize) return { committed, checkpoint: outcome.checkpoint };
    }
  }

  /** One batch: its size and the checkpoint after it, or "moved" when the commit was refused. */
  private async step(): Promise<{ count: number; checkpoint: string | undefined } | "moved"> {
    const { events, readModel, projection } = this.options;
    const checkpoint = await readModel.checkpoint();
    const batch = await events.readAll({ after: checkpoint, limit: this.batchSize });
    const last = batch.at(-1);
    if (!last) return { count: 0, checkpoint };
    const changed = await this.applyBatch(projection, readModel, batch);
    const ok = await readModel.commit({
      expectedCheckpoint: checkpoint,
      checkpoint: last.globalPosition,
      views: changed,
    });
    return ok ? { count: batch.length, checkpoint: last.globalPosition } : "moved";
  }

  private async applyBatch(
    projection: Projection<V>,
    readModel: ReadModelStore<V>,
    batch: readonly StoredEvent[],
  ): Promise<Map<string, ViewRecord<V>>> {
    const keyed = batch.flatMap((event) => {
      const key = projection.keyOf(event);
      return key === undefined ? [] : [{ key, event }];
    });
    const views = await readModel.load([...new Set(keyed.map((k) => k.key))]);
    const changed = new Map<string, ViewRecord<V>>();
    for (const { key, event } of keyed) {
      const current = views.get(key);
      // Positions are fixed-width digits, so string order is log order.
      if (current && current.position >= event.globalPosition) continue;
      const next = { position: event.globalPosition, value: projection.apply(current?.value, event) };
      views.set(key, next);
      changed.set(key, next);
    }
    return changed;
  }
}
