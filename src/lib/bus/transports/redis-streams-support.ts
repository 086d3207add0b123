/**
 * Small pieces shared by the Redis transports: the logger they accept, a permit pool that bounds
 * in-flight handlers, and the backoff used when a connection fails.
 */

import { describeThrown } from "../error-text.js";

/** The subset of a pino logger the transports use. */
export interface TransportLogger {
  debug(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

const ignore = (): void => {};

export const silentLogger: TransportLogger = { debug: ignore, warn: ignore, error: ignore };

/** Sleeps that a stopping subscription can cut short, so `stop()` never waits out a backoff. */
export class Sleeper {
  private readonly pending = new Map<NodeJS.Timeout, () => void>();
  private cancelled = false;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.cancelled) return resolve();
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve();
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  /** Ends the current sleeps early (later sleeps wait as usual). */
  wake(): void {
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve();
    }
    this.pending.clear();
  }

  cancelAll(): void {
    this.cancelled = true;
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve();
    }
    this.pending.clear();
  }
}

/** Next wait after a failed Redis call: doubling from 50 ms up to 2 s. */
export const nextBackoff = (previousMs: number): number => Math.min(2_000, Math.max(50, previousMs * 2));

/**
 * Counts free handler slots of one subscription: every running handler holds one permit, so no
 * more than `concurrency` run at once. Readers size their reads by the free count, so a
 * subscription does not pull more entries than it can start: whatever it reads becomes pending in
 * its name, and entries it cannot start would only sit there idle.
 */
export class Permits {
  private free: number;
  private closed = false;
  private waiters: (() => void)[] = [];
  /**
   * Priority takers waiting (takeFirst): while any wait, the permits freed go to them first, and
   * the others (take, tryTake, waitForFree, available) see that many fewer.
   */
  private priority = 0;

  constructor(total: number) {
    this.free = total;
  }

  /** Takes between 1 and `max` permits, waiting for one to be free; 0 once closed. */
  async take(max: number): Promise<number> {
    // Every waiter wakes when a permit frees; those that lose the race for it wait again.
    while (await this.waitForFree()) {
      const taken = this.tryTake(max);
      if (taken > 0) return taken;
    }
    return 0;
  }

  /**
   * Takes between 1 and `max` permits ahead of every other taker: the next permit freed is this
   * one's, however long the others have waited. For the idle claim, which a backlog would starve
   * otherwise (the read loop takes each freed slot at once: break-bus7 F3). 0 once closed.
   */
  async takeFirst(max: number): Promise<number> {
    this.priority++;
    try {
      while (this.free <= 0 && !this.closed) await new Promise<void>((resolve) => this.waiters.push(resolve));
      if (this.closed) return 0;
      const taken = Math.min(max, this.free);
      this.free -= taken;
      return taken;
    } finally {
      this.priority--;
      // Permits this one left (or its reservation held back) are the others' again.
      if (this.free > this.priority) this.wake();
    }
  }

  /** Waits until a permit is free (true) or the pool is closed (false). */
  async waitForFree(): Promise<boolean> {
    while (this.free - this.priority <= 0 && !this.closed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return !this.closed;
  }

  get available(): number {
    return this.closed ? 0 : Math.max(0, this.free - this.priority);
  }

  /** Takes up to `max` permits without waiting (possibly 0); none held back for a priority taker. */
  tryTake(max: number): number {
    if (this.closed) return 0;
    const taken = Math.max(0, Math.min(max, this.free - this.priority));
    this.free -= taken;
    return taken;
  }

  release(count: number): void {
    if (count <= 0) return;
    this.free += count;
    this.wake();
  }

  /** Wakes every waiter with 0 permits: the subscription is stopping. */
  close(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** A thrown value as a log field: capped, never throwing (error-text.ts). */
export function errorDetails(error: unknown): { error: string } {
  return { error: describeThrown(error).message };
}

/** One key per entry of one stream, for sets and maps of entries across streams. */
export const entryKey = (streamKey: string, id: string): string => `${streamKey}\n${id}`;

/**
 * Waits for `work`, at most `timeoutMs` (undefined: as long as it takes); true when it settled in
 * time. The timer does not keep the process alive.
 */
export async function withinMs(work: Promise<unknown>, timeoutMs: number | undefined): Promise<boolean> {
  if (timeoutMs === undefined) {
    await work;
    return true;
  }
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    // Not unref'd: whoever awaits this gets its answer after timeoutMs even when nothing else keeps
    // the process alive (newuser21 F7: a program's `await subscriber.stop({ timeoutMs })` behind a
    // hung handler exited with code 13 instead). Cleared as soon as the work ends.
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([work.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
