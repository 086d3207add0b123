/**
 * Turns missed deadlines into `timeout` inputs. The deadlines come from durable state (the
 * deadline projection of the event store), so a sweeper of a freshly started instance finds the
 * sagas a crashed instance left behind. Two sweepers may pick the same order: the append's expected
 * version lets one win, and the other reloads a terminal order and decides nothing.
 *
 * An order whose timeout keeps failing (a corrupt history, a store error) or changes nothing while
 * its entry stays overdue (the index and the order disagree: break31 F1 left 100 such entries at
 * the head of the index, and no other order timed out) is parked in this instance with exponential
 * backoff, and the scan reads past the parked ones, so it cannot block every other overdue order
 * behind it (head-of-line blocking). Orders never tried come before parked ones whose backoff is
 * over; and when more orders are overdue than one read covers (more than `maxParked` stuck ones),
 * each scan also reads one page further on, round robin, so every overdue order is reached within
 * (overdue orders ÷ batch) scans (break33 F2: 10,200 stuck entries hid the rest for good).
 */
import type { CommandPreparer, SagaRunner } from "./saga-runner.js";
import type { DeadlineIndex } from "./store.js";
import { startTicker, type Ticker } from "../../lib/runtime/ticker.js";

export interface DeadlineSweeperOptions {
  deadlines: Pick<DeadlineIndex, "due">;
  runner: Pick<SagaRunner, "run">;
  preparer: CommandPreparer;
  /** Brings the deadline index up to date before a scan (the projection's catch-up). */
  catchUp?: () => Promise<unknown>;
  now: () => number;
  /** Overdue orders handled per sweep (default 100). */
  batchSize?: number;
  /** Backoff of a failing order: first pause and cap, in ms (default 1 s, 5 min). */
  parkBaseMs?: number;
  parkMaxMs?: number;
  /** Orders parked at most (the oldest is forgotten beyond it; default 1 000). */
  maxParked?: number;
  onError?: (error: unknown, orderId?: string) => void;
}

interface Parked {
  failures: number;
  until: number;
}

export class DeadlineSweeper {
  private ticker: Ticker | undefined;
  private readonly parked = new Map<string, Parked>();
  /** Where the next page past the first read starts (an offset after it), round robin. */
  private cursor = 0;

  constructor(private readonly options: DeadlineSweeperOptions) {}

  /** Orders this instance is backing off from (their timeout kept failing). */
  get parkedCount(): number {
    return this.parked.size;
  }

  /** One scan: times out every overdue order; resolves with how many it failed. */
  async sweepOnce(): Promise<number> {
    const { deadlines, now } = this.options;
    const batch = this.options.batchSize ?? 100;
    await this.options.catchUp?.();
    const at = now();
    // Read past the parked orders, so they never fill the batch.
    const limit = batch + this.parked.size;
    const due = await deadlines.due(at, limit);
    let page: string[] = [];
    if (due.length < limit) {
      // Every overdue order was read: a parked one not among them has left the index.
      this.forgetParkedBut(new Set(due));
      this.cursor = 0;
    } else {
      // More overdue than one read covers: the orders past it (the newest deadlines) come first.
      page = await deadlines.due(at, batch, limit + this.cursor);
      this.cursor = page.length < batch ? 0 : this.cursor + batch;
    }
    const seen = [...page, ...due];
    const fresh = seen.filter((orderId) => !this.parked.has(orderId));
    const again = seen.filter((orderId) => (this.parked.get(orderId)?.until ?? Infinity) <= at);
    const ready = [...new Set([...fresh, ...again])].slice(0, batch);
    const results = await Promise.all(ready.map((orderId) => this.timeOut(orderId, at)));
    return results.filter((r) => r === "applied").length;
  }

  private async timeOut(orderId: string, at: number): Promise<string | undefined> {
    const { runner, preparer, onError } = this.options;
    try {
      const result = await runner.run(orderId, { type: "timeout" }, preparer);
      // Applied: the entry moved with the order. Otherwise the order changed nothing (another
      // instance or a reply moved it first, and its entry with it; or the entry is stale and would
      // come back at the head of every scan): parked, like a failure.
      if (result.kind === "applied") this.parked.delete(orderId);
      else this.park(orderId, at);
      return result.kind;
    } catch (error) {
      onError?.(error, orderId);
      this.park(orderId, at);
      return undefined;
    }
  }

  private park(orderId: string, at: number): void {
    const failures = (this.parked.get(orderId)?.failures ?? 0) + 1;
    const base = this.options.parkBaseMs ?? 1_000;
    const pause = Math.min(this.options.parkMaxMs ?? 300_000, base * 2 ** (failures - 1));
    this.parked.delete(orderId);
    this.parked.set(orderId, { failures, until: at + pause });
    if (this.parked.size > (this.options.maxParked ?? 1_000)) {
      this.parked.delete(this.parked.keys().next().value as string);
    }
  }

  private forgetParkedBut(due: ReadonlySet<string>): void {
    for (const orderId of this.parked.keys()) if (!due.has(orderId)) this.parked.delete(orderId);
  }

  start({ intervalMs }: { intervalMs: number }): void {
    this.ticker ??= startTicker(intervalMs, () => this.sweepOnce(), {
      onError: (error) => this.options.onError?.(error),
    });
  }

  /** Stops scanning and waits for a scan in progress. */
  async stop(): Promise<void> {
    const ticker = this.ticker;
    this.ticker = undefined;
    await ticker?.stop();
  }
}
