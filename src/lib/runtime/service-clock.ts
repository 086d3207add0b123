/**
 * A service's clock for times that other instances check (DESIGN §6: do not compare clocks across
 * machines): Redis `TIME` when instances share a Redis, else this process's clock.
 */
import type { Logger } from "../observability/logger.js";
import type { Metrics } from "../observability/metrics.js";
import { localClock, redisTimeClock, type SharedClock } from "../redis/clock.js";
import type { ServiceDeps } from "./service-host.js";

/**
 * The platform's shared clock (one per process) unless a test injected its own elapsed-time source
 * (`deps.now` other than `Date.now`): then a clock of its own on Redis `TIME` with that source, so a
 * skewed instance clock still reads Redis's time. Call `stop()` when done: it stops only a clock of
 * its own (the platform stops its shared one).
 */
export async function serviceClock(deps: Pick<ServiceDeps<never>, "platform" | "now">): Promise<SharedClock> {
  if (!deps.platform.redis) return localClock(deps.now);
  if (deps.now === Date.now) {
    const shared = await deps.platform.clock();
    return {
      now: shared.now,
      sync: shared.sync,
      resync: shared.resync,
      recentBackwardStepMs: shared.recentBackwardStepMs,
      onStep: shared.onStep,
      stop: () => {},
    };
  }
  // Never the wall clock as the elapsed-time source (a step of it would move every deadline,
  // review F3): a clock a test injected.
  return redisTimeClock({ redis: deps.platform.redis, local: deps.now });
}

/**
 * Reports each step of `clock` (clock.ts: Redis's clock stepped, or a failover to a server whose
 * clock differs; the clock follows it): one warning with the step's size in ms, and
 * `ordersaga_clock_steps_total{direction}`. Returns the function that stops reporting.
 */
export function reportClockSteps(
  clock: SharedClock,
  metrics: Pick<Metrics, "clockSteps">,
  logger: Pick<Logger, "warn">,
): () => void {
  return clock.onStep(({ direction, stepMs, errorMs }) => {
    metrics.clockSteps.inc({ direction });
    logger.warn(
      { direction, stepMs, errorMs },
      direction === "backward"
        ? "the shared clock (Redis TIME) stepped back: following it (deadlines and windows move by the step; check NTP on the Redis hosts)"
        : "the shared clock (Redis TIME) stepped forward: following it (in-flight deadlines come early; check NTP on the Redis hosts, or this process was suspended)",
    );
  });
}
