/**
 * Crypto-shredding that survives a crash (issue 12): the append that ends an order's saga also
 * records a shred intent (`ShredIntents`, the `{order}:shred:due` sorted set on Redis) in the same
 * atomic step, and this sweeper, in every order instance, finishes the intents nobody finished:
 * delete the order's token key (idempotent; in the `{payment}` slot, so a command of its own), tell
 * the AOF compactor (the deleted entry must leave the AOF too), and only then remove the intent. A
 * delete that fails leaves the intent for the next pass; an instance killed at any point leaves it
 * for whichever instance (or its restart) sweeps next.
 *
 * The saga's end still shreds at once (`token-shred.ts`, the fast path, which removes the intent
 * when it succeeds); an intent becomes the sweeper's once its saga ended `graceMs` ago, so the two
 * rarely both delete (a duplicate delete is harmless anyway).
 */
import type { ShredIntents } from "./store.js";
import { startTicker, type Ticker } from "../../lib/runtime/ticker.js";

/** Default wait before the sweeper takes an intent: longer than the fast path's ~32 s of retries. */
export const DEFAULT_SHRED_GRACE_MS = 60_000;

export interface ShredSweeperOptions {
  intents: Pick<ShredIntents, "due" | "remove">;
  /** Deletes the order's token key (idempotent); rejects when the delete failed. */
  shred: (orderId: string) => Promise<void>;
  /** Called after each successful delete, before the intent is removed (the AOF compactor). */
  onShredded?: () => void;
  /** Clock, epoch ms (the service's shared clock, as the intents were scored with it). */
  now: () => number;
  /** An intent is taken once its saga ended this long ago, ms (default `DEFAULT_SHRED_GRACE_MS`). */
  graceMs?: number;
  /** Intents handled per pass (default 100): a backlog is worked off over several passes. */
  batchSize?: number;
  onError?: (error: unknown, orderId?: string) => void;
}

export class ShredSweeper {
  private ticker: Ticker | undefined;

  constructor(private readonly options: ShredSweeperOptions) {}

  /**
   * One pass: shreds up to `batchSize` due intents; resolves with how many were finished (key
   * deleted and intent removed). A failure of one order is reported to `onError` and keeps its
   * intent; rejects only when the intents cannot be read.
   */
  async sweepOnce(): Promise<number> {
    const { intents, now } = this.options;
    const endedBy = now() - (this.options.graceMs ?? DEFAULT_SHRED_GRACE_MS);
    const due = await intents.due(endedBy, this.options.batchSize ?? 100);
    const results = await Promise.all(due.map((orderId) => this.finish(orderId)));
    return results.filter(Boolean).length;
  }

  private async finish(orderId: string): Promise<boolean> {
    const { intents, shred, onShredded, onError } = this.options;
    try {
      await shred(orderId);
    } catch (error) {
      onError?.(error, orderId);
      return false; // the intent stays: the next pass tries again
    }
    onShredded?.();
    try {
      await intents.remove(orderId);
    } catch (error) {
      onError?.(error, orderId); // the key is gone; the next pass deletes it again, harmlessly
      return false;
    }
    return true;
  }

  /** Starts sweeping: a first pass at once (intents a crashed instance left), then every interval. */
  start({ intervalMs }: { intervalMs: number }): void {
    this.ticker ??= startTicker(intervalMs, () => this.sweepOnce(), {
      firstDelayMs: 0,
      onError: (error) => this.options.onError?.(error),
    });
  }

  /** Stops sweeping and waits for a pass in progress. */
  async stop(): Promise<void> {
    const ticker = this.ticker;
    this.ticker = undefined;
    await ticker?.stop();
  }
}
