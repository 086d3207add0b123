/**
 * Acknowledgements, batched: every XACK settled in the same turn of the event loop goes out as one
 * XACK per stream (with all its ids) in one pipeline, instead of a round trip per message. Failure
 * records of retried entries (attempt > 1) are deleted in the same pipeline.
 */
import type { Redis } from "ioredis";

interface Batch {
  ids: string[];
  cleanup: string[];
  waiters: { resolve: () => void; reject: (error: unknown) => void }[];
}

export class AckBatcher {
  private batches = new Map<string, Batch>();
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {}

  /** Resolves once the XACK carrying this id has been executed. */
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
    const pipeline = this.redis.pipeline();
    for (const [key, batch] of batches) {
      pipeline.xack(key, this.group, ...batch.ids);
      if (batch.cleanup.length > 0) pipeline.del(...batch.cleanup);
    }
    let results: [Error | null, unknown][] | null = null;
    let failure: unknown;
    try {
      results = await pipeline.exec();
    } catch (error) {
      failure = error;
    }
    let index = 0;
    for (const [, batch] of batches) {
      const ackError = failure ?? results?.[index]?.[0] ?? (results ? null : new Error("pipeline aborted"));
      index += batch.cleanup.length > 0 ? 2 : 1;
      for (const waiter of batch.waiters) {
        if (ackError) waiter.reject(ackError);
        else waiter.resolve();
      }
    }
  }
}
