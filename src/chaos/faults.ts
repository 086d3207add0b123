/**
 * The faults the suite injects (issue 8, "Invariants checked under faults"), each with the workload
 * that exposes it. `during` runs while the run's orders are being placed and processed.
 */
import { goodCardsComplete, type Snapshot } from "./oracle.js";
import type { ChaosSystem } from "./system.js";
import type { Placed, WorkloadOptions } from "./workload.js";

export interface Fault {
  name: string;
  /** What it stands for (the issue input, or the production fault). */
  what: string;
  workload?: Partial<WorkloadOptions>;
  /** Runs once before the fault's first run: a condition every run of the fault has. */
  setUp?(system: ChaosSystem): Promise<void>;
  during(system: ChaosSystem, random: () => number): Promise<void>;
  /** Runs once after the fault's last run (undoes `setUp`). */
  tearDown?(system: ChaosSystem): Promise<void>;
  /** What this fault's run must show beyond the invariants (problems found; empty when it did). */
  expect?(snapshot: Snapshot, placed: Placed): string[];
}

/**
 * How far each order instance's clock is off in `clock-skew`: four times the suite's 15 s step
 * budget (`CHAOS_ENV.SAGA_STEP_TIMEOUT_MS`); one instance ahead, the other behind, so the two
 * disagree by 120 s and neither agrees with Redis.
 */
export const CLOCK_SKEW_MS = 60_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How many times the client-kill fault cuts every connection, 20-100 ms apart. */
export const CLIENT_KILL_ROUNDS = 40;

/**
 * The client-kill fault's cuts (here and in npm test's slice, chaos.test.ts): `rounds` times, after
 * 20-100 ms drawn from `random` (the run's seed), `cut()` closes every Redis connection but the
 * caller's (CLIENT KILL TYPE normal SKIPME yes), so replies are lost after a command may have run.
 */
export async function cutConnectionsRepeatedly(
  cut: () => Promise<unknown>,
  random: () => number,
  rounds = CLIENT_KILL_ROUNDS,
): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await sleep(20 + random() * 80);
    await cut();
  }
}
const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

export const FAULTS: readonly Fault[] = [
  { name: "none", what: "baseline: the mix of tokens, cancels and totals alone", during: async () => {} },
  {
    name: "late-answers",
    what: "input 1: the provider commits, answers after the client's timeout (tok_late)",
    workload: { mix: { tok_late: 3, tok_ok: 1 } },
    during: async () => {},
  },
  {
    name: "refund-outage",
    what: "input 2: refunds meet a 3 s provider outage (every paid order refused by the carrier)",
    workload: { productPrefix: "noship-", mix: { tok_ok: 1 } },
    during: async (system) => {
      await sleep(1_500);
      await system.providerOutage(3_000);
    },
  },
  {
    name: "late-carrier",
    what: "finding F5: the carrier books at once, answers 7.5 s later, past shipping's 5 s timeout (lateship-)",
    // Every product is `lateship-`: each paid order's booking is learned by retrieve-by-key, so the
    // order completes within the 15 s step budget with its one shipment (none times out).
    workload: { productPrefix: "lateship-", mix: { tok_ok: 1 } },
    during: async () => {},
    expect: (snapshot, placed) => goodCardsComplete(snapshot, placed.placements),
  },
  {
    name: "card-errors",
    what: "input 3: card errors next to good orders (tok_error, tok_ok)",
    workload: { mix: { tok_error: 1, tok_ok: 1 } },
    during: async () => {},
    // The point of input 3: the tok_ok orders beside the tok_error ones complete (provider up).
    expect: (snapshot, placed) => goodCardsComplete(snapshot, placed.placements),
  },
  {
    name: "backlog-after-deadline",
    what: "input 4: shipping stalls past the 15 s step deadline, then its late shipment.prepared replies meet failed orders",
    // Shipping, not the order instances: a stalled order instance also stops taking orders (the
    // client retries until it resumes), so no step was ever in flight past its deadline. A stalled
    // shipping lets orders reach `paid`, time out at 15 s, and get the backlog's replies afterwards.
    during: async (system) => {
      await sleep(300);
      await system.pause("shipping", 17_000);
    },
  },
  {
    name: "clock-skew",
    what: "input 5: the two order instances' clocks 60 s ahead and 60 s behind (4x the step budget)",
    // Restarted (SIGTERM, as a deploy would) with their clocks off for every run of the fault, then
    // put right again, so the other faults meet agreeing clocks.
    setUp: async (system) => {
      await system.restart("order#1", { clockOffsetMs: CLOCK_SKEW_MS });
      await system.restart("order#2", { clockOffsetMs: -CLOCK_SKEW_MS });
    },
    during: async () => {},
    tearDown: async (system) => {
      await system.restart("order#1", { clockOffsetMs: 0 });
      await system.restart("order#2", { clockOffsetMs: 0 });
    },
  },
  {
    name: "kill-inventory",
    what: "input 6: kill -9 one of two inventory instances under load",
    during: async (system, random) => {
      await sleep(200 + random() * 500);
      await system.killAndRestart(pick(random, ["inventory#1", "inventory#2"]));
    },
  },
  {
    name: "kill-any",
    what: "kill -9 of a random service mid-saga (restarted like a supervisor would)",
    during: async (system, random) => {
      await sleep(200 + random() * 800);
      const labels = system.labels.filter((l) => l !== "gateway");
      await system.killAndRestart(pick(random, labels));
    },
  },
  {
    name: "redis-restart",
    what: "Redis kill -9 and restart on its AOF mid-saga",
    during: async (system, random) => {
      await sleep(300 + random() * 700);
      await system.restartRedis();
    },
  },
  {
    name: "client-kill",
    what: `every Redis connection cut ${CLIENT_KILL_ROUNDS} times mid-saga (replies lost after the command may have run)`,
    during: (system, random) => cutConnectionsRepeatedly(() => system.killRedisClients(), random),
  },
  {
    name: "provider-brownout",
    what: "the provider fails in short bursts for 4 s",
    during: async (system) => {
      for (let i = 0; i < 8; i++) {
        await system.providerOutage(250);
        await sleep(500);
      }
    },
  },
  {
    name: "provider-outage",
    what: "the provider is down for 6 s (the breaker opens; requests wait)",
    during: async (system) => {
      await system.providerOutage(6_000);
    },
  },
  {
    name: "duplicates",
    what: "duplicated and reordered deliveries: recent stream entries appended again",
    during: async (system, random) => {
      for (let i = 0; i < 6; i++) {
        await sleep(250);
        await system.duplicate(5, random);
      }
    },
  },
  {
    name: "lagging-order",
    what: "one order instance stalls 4 s (SIGSTOP) while holding work",
    during: async (system, random) => {
      await sleep(200);
      await system.pause(pick(random, ["order#1", "order#2"]), 4_000);
    },
  },
];
