/**
 * Acknowledgements, batched, in the fewest round trips:
 * - `HeldAcks`: the acks of one read's entries, held (briefly) so the reader sends them in the same
 *   write as its next XREADGROUP, on its own connection: a read batch then costs one round trip for
 *   its acks and its next read together, not one each (see StreamSubscription.readLoop).
 * - `AckBatcher`: every other ack (claims, retries, replays, an entry whose handler outlived the
 *   reader's wait) settled in the same turn of the event loop goes out as one XACK per stream (with
 *   all its ids) on the command connection, instead of a round trip per message.
 * Failure records of retried entries (attempt > 1) are deleted in the same round trip.
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
export type AckBatches = Map<string, Batch>;

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

/**
 * Queues one XACK per stream (and the DEL of its cleanup keys) on `pipeline`; each waiter is settled
 * by its XACK's own reply, as soon as it arrives (not when the whole pipeline, which may end with a
 * blocking read, is done). `abandon` rejects the waiters of commands the pipeline never sent.
 */
export function queueAcks(
  pipeline: ChainableCommander,
  group: string,
  batches: AckBatches,
): { abandon(error: unknown): void } {
  const pending = new Set<Batch>();
  for (const [key, batch] of batches) {
    pending.add(batch);
    pipeline.xack(key, group, ...batch.ids, (error: Error | null | undefined) => {
      if (!pending.delete(batch)) return;
      for (const waiter of batch.waiters) {
        if (error) waiter.reject(error);
        else waiter.resolve();
      }
    });
    if (batch.cleanup.length > 0) pipeline.del(...batch.cleanup);
  }
  return {
    abandon(error) {
      for (const batch of pending) for (const waiter of batch.waiters) waiter.reject(error);
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

  /** Sends acks held for a read that will not happen now (see HeldAcks) with this turn's others. */
  adopt(batches: AckBatches): void {
    if (batches.size === 0) return;
    for (const [key, held] of batches) {
      const batch = this.batches.get(key);
      if (!batch) this.batches.set(key, held);
      else {
        batch.ids.push(...held.ids);
        batch.cleanup.push(...held.cleanup);
        batch.waiters.push(...held.waiters);
      }
    }
    this.schedule();
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
        for (const waiter of batch.waiters) waiter.resolve();
      } catch (error) {
        for (const waiter of batch.waiters) waiter.reject(error);
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

/**
 * The acks of the entries one read handed to handlers. While open, an ack of one of them is kept
 * here (its promise pending) instead of going to the AckBatcher; the reader waits (a bounded time)
 * until every one of them has acked or its handler has returned, then `take()`s the acks to send
 * with its next read. After `take()`, acks of these entries go to the AckBatcher as usual.
 */
export class HeldAcks {
  private readonly open = new Set<string>();
  private batches: AckBatches = new Map();
  private closed = false;
  private wake: (() => void) | undefined;

  /** An entry handed to a handler: the reader waits for it. */
  track(entryKey: string): void {
    if (!this.closed) this.open.add(entryKey);
  }

  /** Holds the ack of a tracked entry; undefined (send it another way) once taken or untracked. */
  ack(entryKey: string, streamKey: string, id: string, cleanupKeys?: readonly string[]) {
    if (this.closed || !this.open.has(entryKey)) return undefined;
    const done = addAck(this.batches, streamKey, id, cleanupKeys);
    this.settled(entryKey);
    return done;
  }

  /** The entry's handler returned (after its ack, or without one: retry, defer, dead letter). */
  settled(entryKey: string): void {
    if (this.open.delete(entryKey) && this.open.size === 0) this.wake?.();
  }

  /** Resolves when every tracked entry has settled, or after `ms`. */
  async whenSettled(ms: number): Promise<void> {
    if (this.open.size === 0 || this.closed || ms <= 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.wake = resolve;
      timer = setTimeout(resolve, ms);
    });
    clearTimeout(timer);
    this.wake = undefined;
  }

  /** Ends a `whenSettled` wait now (the subscription is stopping). */
  stopWaiting(): void {
    this.closed = true;
    this.wake?.();
  }

  /** The acks held so far; later ones go to the AckBatcher. */
  take(): AckBatches {
    this.closed = true;
    this.open.clear();
    const batches = this.batches;
    this.batches = new Map();
    return batches;
  }
}
