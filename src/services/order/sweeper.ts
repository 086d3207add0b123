/**
 * Turns missed deadlines into `timeout` inputs. The deadlines come from durable state (the
 * deadline projection of the event store), so a sweeper of a freshly started instance finds the
 * sagas a crashed instance left behind. Two sweepers may pick the same order: the append's expected
 * version lets one win, and the other reloads a terminal order and decides nothing.
 */
import type { CommandPreparer, SagaRunner } from "./saga-runner.js";
import type { DeadlineIndex } from "./store.js";

export interface DeadlineSweeperOptions {
  deadlines: Pick<DeadlineIndex, "due">;
  runner: Pick<SagaRunner, "run">;
  preparer: CommandPreparer;
  /** Brings the deadline index up to date before a scan (the projection's catch-up). */
  catchUp?: () => Promise<unknown>;
  now: () => number;
  /** Overdue orders handled per sweep (default 100). */
  batchSize?: number;
  onError?: (error: unknown, orderId?: string) => void;
}

export class DeadlineSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private active = false;

  constructor(private readonly options: DeadlineSweeperOptions) {}

  /** One scan: times out every overdue order; resolves with how many it failed. */
  async sweepOnce(): Promise<number> {
    const { deadlines, runner, preparer, now, onError } = this.options;
    await this.options.catchUp?.();
    const due = await deadlines.due(now(), this.options.batchSize ?? 100);
    const results = await Promise.all(
      due.map((orderId) =>
        runner.run(orderId, { type: "timeout" }, preparer).catch((error: unknown) => {
          onError?.(error, orderId);
          return undefined;
        }),
      ),
    );
    return results.filter((r) => r?.kind === "applied").length;
  }

  start({ intervalMs }: { intervalMs: number }): void {
    if (this.active) return;
    this.active = true;
    const tick = () => {
      this.running = this.sweepOnce()
        .catch((error: unknown) => this.options.onError?.(error))
        .finally(() => {
          if (this.active) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, intervalMs);
  }

  /** Stops scanning and waits for a scan in progress. */
  async stop(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    await this.running;
  }
}
