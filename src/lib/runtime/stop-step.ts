/**
 * A step of a process's stop with a time budget (edge20). A stop's steps that talk to Redis waited
 * on it without a limit: with Redis paused (`CLIENT PAUSE`) or down (ioredis retrying, commands
 * queued until it is back) the stop ran into the 10 s force exit of shutdownOnSignals, and the
 * process was killed mid-step instead of closing its server and connections in order. Here a step
 * that overruns its budget is left running (a command cannot be taken back from Redis), a warning
 * names it and says why skipping it is safe, and the stop goes on with the next step.
 */
import type { Logger } from "../observability/logger.js";

/** What a stop step logs to: a Logger's `warn`. */
export type StopLogger = Pick<Logger, "warn">;

const OVERRUN = Symbol("overrun");

/**
 * Longest wait (ms) for each step of a stop that talks to Redis (service-host.ts, the gateway).
 * With Redis paused or down a service's stop takes at most: the registry removal, then the HTTP
 * drain and the consumers side by side, then the service's parts, the trimmer, the metrics flush
 * and the platform's close (PLATFORM_CLOSE_BUDGET_MS), where it had waited into the 10 s force
 * exit. The registry removal's time is taken from the drain's in-flight budget (its requests were
 * served meanwhile), so the two together stay within the drain's linger + in-flight (2 s + 5 s by
 * default): 7 s + 1.5 s at worst.
 */
export const STOP_BUDGETS_MS = {
  registryRemoval: 1_000,
  /** Runs beside the HTTP drain (service-host.ts): handlers in flight get as long as requests do. */
  consumers: 5_000,
  /** A service's own loops (ServiceParts.stop). */
  parts: 500,
  trimmer: 250,
  metricsFlush: 250,
  /** The gateway's health checker and metrics reporter. */
  gatewayBackground: 500,
} as const;

/**
 * Why a registry removal may be given up: the entry is a Redis hash with a PEXPIRE of the agent's
 * TTL (three heartbeat intervals, 90 s by default; redis-registry.ts), refreshed only by the
 * heartbeats that stop with this process, so it expires on its own; meanwhile the gateway's health
 * check marks it unhealthy (not routed to while a healthy instance can serve) at its first failed
 * check and deregisters it after three, and a drain 503 sent meanwhile is resent elsewhere.
 */
export const REGISTRY_REMOVAL_SKIPPED =
  "the entry expires after its TTL; the gateway's health check drops it sooner";

/**
 * Runs `run` and waits for it at most `budgetMs`; past it logs a warning naming `step` (`why`:
 * what covers for it) and resolves. Rejects when `run` rejects within its budget; a rejection after
 * it is logged, never unhandled. Returns whether the step finished within its budget.
 */
export async function stopStep(
  logger: StopLogger,
  step: string,
  budgetMs: number,
  why: string,
  run: () => Promise<unknown>,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const work = run();
  const overrun = new Promise<typeof OVERRUN>((resolve) => {
    timer = setTimeout(() => resolve(OVERRUN), Math.max(0, budgetMs));
  });
  try {
    if ((await Promise.race([work, overrun])) !== OVERRUN) return true;
  } finally {
    clearTimeout(timer);
  }
  work.catch((error: unknown) =>
    logger.warn({ err: error, step }, `stop step "${step}" failed after its budget`),
  );
  logger.warn({ step, budgetMs }, `stop step "${step}" took over ${budgetMs} ms: skipped (${why})`);
  return false;
}
