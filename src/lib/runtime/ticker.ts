/**
 * A periodic task that never overlaps itself: the discovery heartbeat and health checks, the order
 * service's deadline and shred sweepers, the shipping delivery poller and the payment service's
 * orphan-charge pass all run on it. A timeout chain rather than `setInterval`: the next run is
 * scheduled when the last one ended, so a slow run (a stalled Redis) never queues more behind it.
 */

export interface Ticker {
  /** Runs the task now, after any run in progress (runs never overlap). */
  run(): Promise<void>;
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

export interface TickerOptions<T> {
  /** Wait before the first run, ms (default the interval). */
  firstDelayMs?: number;
  /** Wait after a run that resolved with `result` before the next, ms (default the interval). */
  delayAfter?: (result: T) => number;
  /** Told when the task rejects; the next run is scheduled as usual (after the interval). */
  onError?: (error: unknown) => void;
}

/**
 * Runs `task` every `intervalMs` (ms) until `stop()`. A rejected run goes to `onError` and does not
 * stop the ticker. The timer is unref'd: it never keeps a process alive.
 */
export function startTicker<T>(
  intervalMs: number,
  task: () => Promise<T>,
  options: TickerOptions<T> = {},
): Ticker {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let nextDelayMs = intervalMs;
  const run = () => {
    running = running.then(async () => {
      try {
        const result = await task();
        nextDelayMs = options.delayAfter?.(result) ?? intervalMs;
      } catch (error) {
        nextDelayMs = intervalMs;
        options.onError?.(error);
      }
    });
    return running;
  };
  const schedule = (ms: number) => {
    timer = setTimeout(() => {
      void run().then(() => {
        if (!stopped) schedule(nextDelayMs);
      });
    }, ms);
    timer.unref();
  };
  schedule(options.firstDelayMs ?? intervalMs);
  return {
    run: () => (stopped ? running : run()),
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
