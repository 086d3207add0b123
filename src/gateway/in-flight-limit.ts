/**
 * At most `limit` calls in flight to one instance; the others wait here, in order, each within its
 * own time budget. With `limit` equal to the pool's connections per instance, undici never holds a
 * queue of its own: a call that runs out of budget while waiting leaves this queue and is never
 * dispatched, where in undici's queue it would later take a connection only to abort it, destroying
 * a keep-alive socket, while live calls waited behind it (break-gw F2).
 */
import { TimeoutError } from "../lib/resilience/errors.js";

interface Waiter {
  resolve: () => void;
  timer: NodeJS.Timeout;
  gone: boolean;
}

export class InFlightLimit {
  private active = 0;
  private queue: (Waiter | undefined)[] = [];
  private head = 0;

  constructor(readonly limit: number) {}

  /** Takes a place at once if one is free and no live call waits (no promise, no timer here). */
  tryAcquire(): boolean {
    if (this.active >= this.limit || this.peekLive() !== undefined) return false;
    this.active++;
    return true;
  }

  /** Waits for a place; rejects with TimeoutError after `budgetMs`, and then never takes one. */
  wait(budgetMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        gone: false,
        timer: setTimeout(() => {
          waiter.gone = true;
          reject(new TimeoutError(budgetMs));
        }, budgetMs),
      };
      this.queue.push(waiter);
    });
  }

  /** Gives the place back: to the oldest waiter still within its budget, else to the pool. */
  release(): void {
    const waiter = this.peekLive();
    if (waiter === undefined) {
      this.active--;
      return;
    }
    this.queue[this.head++] = undefined;
    // Under steady load the queue never empties: drop the served part now and then.
    if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    clearTimeout(waiter.timer);
    waiter.resolve();
  }

  /** Calls holding a place. */
  get inFlight(): number {
    return this.active;
  }

  /** The oldest waiter within its budget, after dropping those that ran out of it. */
  private peekLive(): Waiter | undefined {
    while (this.head < this.queue.length) {
      const waiter = this.queue[this.head];
      if (waiter !== undefined && !waiter.gone) return waiter;
      this.queue[this.head++] = undefined;
    }
    if (this.head > 0) {
      this.queue = [];
      this.head = 0;
    }
    return undefined;
  }
}
