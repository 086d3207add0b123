/**
 * Acknowledgements, batched: every XACK settled in the same turn of the event loop goes out as one
 * XACK per stream (with all its ids) on the command connection, instead of a round trip per
 * message: a plain XACK when one stream has nothing to clean up, else one pipeline. Failure records
 * of retried entries (attempt > 1) are deleted in the same round trip.
 */
import type { Redis } from "ioredis";

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Batch {
  ids: string[];
  cleanup: string[];
  waiters: Waiter[];
}

/** Settles every waiter of a batch: rejected with `error` when given, else resolved. */
function settle(batch: Batch, error?: unknown): void {
  for (const waiter of batch.waiters) {
    if (error) waiter.reject(error);
    else waiter.resolve();
  }
}

export class AckBatcher {
  /** Acks waiting to be sent, by stream key. */
  private batches = new Map<string, Batch>();
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {}

  /**
   * Resolves once the XACK carrying this id has been executed; rejects with its error (or the
   * connection's) when it failed. A failed DEL of `cleanupKeys` is not reported: the records expire.
   */
  ack(streamKey: string, id: string, cleanupKeys?: readonly string[]): Promise<void> {
    let batch = this.batches.get(streamKey);
    if (!batch) {
      batch = { ids: [], cleanup: [], waiters: [] };
      this.batches.set(streamKey, batch);
    }
    batch.ids.push(id);
    if (cleanupKeys) batch.cleanup.push(...cleanupKeys);
    const done = new Promise<void>((resolve, reject) => batch.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    return done;
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batches = [...this.batches];
    this.batches = new Map();
    const [only] = batches;
    if (batches.length === 1 && only![1].cleanup.length === 0) {
      // One stream, nothing to clean up (the common case): a plain XACK, no pipeline around it.
      const [key, batch] = only!;
      try {
        await this.redis.xack(key, this.group, ...batch.ids);
        settle(batch);
      } catch (error) {
        settle(batch, error);
      }
      return;
    }
    // Each batch is settled by its own XACK's result: a failure of one stream's leaves the others'.
    const pipeline = this.redis.pipeline();
    const xackAt: number[] = [];
    for (const [key, batch] of batches) {
      xackAt.push(pipeline.length);
      pipeline.xack(key, this.group, ...batch.ids);
      if (batch.cleanup.length > 0) pipeline.del(...batch.cleanup);
    }
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      for (const [, batch] of batches) settle(batch, error);
      return;
    }
    batches.forEach(([, batch], i) => {
      const result = results?.[xackAt[i]!];
      settle(batch, result ? (result[0] ?? undefined) : new Error("pipeline aborted"));
    });
  }
}
