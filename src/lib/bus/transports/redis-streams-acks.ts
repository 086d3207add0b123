/**
 * Acknowledgements, batched: every XACK settled in the same turn of the event loop goes out as one
 * XACK per stream (with all its ids) on the command connection, instead of a round trip per
 * message: a plain XACK when one stream has nothing to clean up, else one pipeline. Failure records
 * of retried entries (attempt > 1) are deleted in the same round trip.
 */
import type { ChainableCommander, Redis } from "ioredis";

interface Waiter {
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface Batch {
  ids: string[];
  cleanup: string[];
  waiters: Waiter[];
}

/** Acks waiting to be sent, by stream key. */
type AckBatches = Map<string, Batch>;

function addAck(batches: AckBatches, streamKey: string, id: string, cleanupKeys?: readonly string[]) {
  let batch = batches.get(streamKey);
  if (!batch) {
    batch = { ids: [], cleanup: [], waiters: [] };
    batches.set(streamKey, batch);
  }
  batch.ids.push(id);
  if (cleanupKeys) batch.cleanup.push(...cleanupKeys);
  const target = batch;
  return new Promise<void>((resolve, reject) => target.waiters.push({ resolve, reject }));
}

/** Settles every waiter of a batch: rejected with `error` when it failed, else resolved. */
function settle(batch: Batch, failed: boolean, error?: unknown): void {
  for (const waiter of batch.waiters) {
    if (failed) waiter.reject(error);
    else waiter.resolve();
  }
}

/**
 * Queues one XACK per stream (and the DEL of its cleanup keys) on `pipeline`; each waiter is settled
 * by its XACK's own reply, as soon as it arrives. `abandon` rejects the waiters of commands the
 * pipeline never sent.
 */
function queueAcks(
  pipeline: ChainableCommander,
  group: string,
  batches: AckBatches,
): { abandon(error: unknown): void } {
  const pending = new Set<Batch>();
  for (const [key, batch] of batches) {
    pending.add(batch);
    pipeline.xack(key, group, ...batch.ids, (error: Error | null | undefined) => {
      if (pending.delete(batch)) settle(batch, Boolean(error), error);
    });
    if (batch.cleanup.length > 0) pipeline.del(...batch.cleanup);
  }
  return {
    abandon(error) {
      for (const batch of pending) settle(batch, true, error);
      pending.clear();
    },
  };
}

export class AckBatcher {
  private batches: AckBatches = new Map();
  private scheduled = false;

  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {}

  /** Resolves once the XACK carrying this id has been executed. */
  ack(streamKey: string, id: string, cleanupKeys?: readonly string[]): Promise<void> {
    const done = addAck(this.batches, streamKey, id, cleanupKeys);
    this.schedule();
    return done;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batches = this.batches;
    this.batches = new Map();
    const only = batches.size === 1 ? [...batches][0] : undefined;
    if (only && only[1].cleanup.length === 0) {
      // One stream, nothing to clean up (the common case): a plain XACK, no pipeline around it.
      const [key, batch] = only;
      try {
        await this.redis.xack(key, this.group, ...batch.ids);
        settle(batch, false);
      } catch (error) {
        settle(batch, true, error);
      }
      return;
    }
    const pipeline = this.redis.pipeline();
    const sent = queueAcks(pipeline, this.group, batches);
    try {
      await pipeline.exec();
      sent.abandon(new Error("pipeline aborted"));
    } catch (error) {
      sent.abandon(error);
    }
  }
}
