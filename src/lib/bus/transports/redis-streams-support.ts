/**
 * Small pieces shared by the Redis transports: the logger they accept, a permit pool that bounds
 * in-flight handlers, and the backoff used when a connection fails.
 */

/** The subset of a pino logger the transports use. */
export interface TransportLogger {
  debug(object: object, message: string): void;
  warn(object: object, message: string): void;
  error(object: object, message: string): void;
}

const ignore = (): void => {};

export const silentLogger: TransportLogger = { debug: ignore, warn: ignore, error: ignore };

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Next wait after a failed Redis call: doubling from 50 ms up to 2 s. */
export const nextBackoff = (previousMs: number): number => Math.min(2_000, Math.max(50, previousMs * 2));

/**
 * Counts free handler slots of one subscription. Readers take permits *before* reading so a
 * subscription never pulls more entries from Redis than it can start handling: whatever it reads
 * becomes pending in its name, and entries it cannot start would only sit there idle.
 */
export class Permits {
  private free: number;
  private closed = false;
  private waiters: (() => void)[] = [];

  constructor(total: number) {
    this.free = total;
  }

  /** Takes between 1 and `max` permits, waiting for one to be free; 0 once closed. */
  async take(max: number): Promise<number> {
    while (this.free === 0 && !this.closed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.tryTake(max);
  }

  /** Takes up to `max` permits without waiting (possibly 0). */
  tryTake(max: number): number {
    if (this.closed) return 0;
    const taken = Math.min(max, this.free);
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

export function errorDetails(error: unknown): { error: string } {
  return { error: error instanceof Error ? error.message : String(error) };
}
