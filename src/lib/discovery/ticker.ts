/** Announcing events and running a periodic task: the plumbing the agent and the checker share. */
import type { DiscoveryLogger, DiscoveryPublish } from "./types.js";

export type Announce = (event: string, payload: Record<string, unknown>) => Promise<void>;

/** Publishes if a publisher is wired; a failing bus is logged, never allowed to stop discovery. */
export function announcer(publish: DiscoveryPublish | undefined, logger: DiscoveryLogger): Announce {
  return async (event, payload) => {
    if (!publish) return;
    try {
      await publish(event, payload);
    } catch (error) {
      logger.warn({ err: error, event }, "discovery event not published");
    }
  };
}

export interface Ticker {
  /** Runs the task now, after any run in progress (runs never overlap). */
  run(): Promise<void>;
  /** Stops scheduling and waits for a run in progress. */
  stop(): Promise<void>;
}

/**
 * Runs `task` every `intervalMs`, as a timeout chain rather than setInterval so a slow run never
 * overlaps the next. `task` must not throw. The timer is unref'd: it never keeps a process alive.
 */
export function startTicker(intervalMs: number, task: () => Promise<void>): Ticker {
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const run = () => {
    running = running.then(task);
    return running;
  };
  const schedule = () => {
    timer = setTimeout(() => {
      void run().then(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
    timer.unref();
  };
  schedule();
  return {
    run: () => (stopped ? running : run()),
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
