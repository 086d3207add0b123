/**
 * A service's clock for times that other instances check (DESIGN §6: do not compare clocks across
 * machines): Redis `TIME` when instances share a Redis, else this process's clock.
 */
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
      now: () => shared.now(),
      sync: () => shared.sync(),
      onStep: (listener) => shared.onStep(listener),
      stop: () => {},
    };
  }
  // Never the wall clock as the elapsed-time source (a step of it would move every deadline,
  // review F3): a clock a test injected.
  return redisTimeClock({ redis: deps.platform.redis, local: deps.now });
}
