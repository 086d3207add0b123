/**
 * Issue 14's measure, in one run (`npm run bench -- --quick`, at most ~4 minutes; also part of the
 * full `npm run bench`):
 *
 * 1. **Raw baseline**: `rawMessages` messages through raw `XADD` (pipelined, batches of 100) /
 *    `XREADGROUP` (COUNT 256) / `XACK` (one per read batch), as fast as possible (bench/bus.ts's
 *    `rawStreams`), CPU of every process (this one and `redis-server`) around it → CPU s per message.
 * 2. **Minimal server**: bench/minimal-server.ts (fastify + zod + XADD) in its own process, autocannon
 *    (100 connections, worker thread) for `acceptedSec` after a 1 s warm-up → accepted req/s.
 * 3. **Orders over Redis**: every service and the gateway their own process (one launch for the
 *    whole search); open-loop POST /orders at 100/s, then ×1.5 while the previous rate was
 *    sustained (bench/load-completion.ts `sustained`), `loadSec` each; each window's CPU (every
 *    process: this one, services, gateway, Redis) and Redis counters hold whole orders only: it
 *    opens once the earlier orders' deliveries are made and closes once its own are (shipping runs
 *    with a short `SHIPPING_DELIVERY_DELAY_MS`, so that wait is short). The order cost is taken at
 *    the highest sustained rate.
 * 4. **p99 at half rate**: placement (202 received) → `order.shipment.prepared` observed, at half the
 *    highest sustained rate (never under 10 orders/s: at a sustained 10 or 15 it is not half, and
 *    the log says so), after the backlog of the first unsustained rate drained.
 * 5. **Accepted through the gateway**: autocannon as in 2 against the gateway's POST /orders while
 *    the services process what it accepts → accepted (2xx) req/s, as a share of 2's. The bench's
 *    own outcome watcher is stopped first (until 2026-11-30 it ran beside this measure only).
 *
 * Order cost (raw-message units) = (CPU s per completed order at the highest sustained rate)
 * ÷ (CPU s per raw message); the formula and the /proc reading are in ./order-cost.ts. It depends on
 * the rate it is taken at (CPU per order falls as the rate rises), so the breakdown ends with the cost
 * at 25 orders/s, the rate every run measures first: that one compares between runs.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { availableParallelism, loadavg } from "node:os";
import { hmacImplementation } from "../src/lib/security/native-hmac.js";
import { createInterface } from "node:readline";
import { Redis } from "ioredis";
import { rawStreams } from "./bus.js";
import { type AcceptedResult, measureAccepted } from "./load-accepted.js";
import {
  type CompletionResult,
  drain,
  type Outcomes,
  seedOrderBody,
  summarize,
  watchOutcomes,
} from "./load-completion.js";
import { type DriveResult, driveOrders } from "./load-driver.js";
import { startMultiProcess, startOneProcess, startTimeoutMs, type Target } from "./load-systems.js";
import {
  type Cost,
  cpuSecondsBetween,
  type Figures,
  fixedRateCostLine,
  formatLastLines,
  highestSustained,
  latencyRate,
  loadLine,
  nextRate,
  orderCost,
  sustained,
} from "./order-cost.js";
import { cpuWindow, snapshotTree, TICKS_PER_SECOND } from "./proc-cpu.js";
import { type Breakdown, breakdownLines, type Counts, cpuByLabel } from "./redis-calls.js";
import { monitorWindow, type RedisWork, redisWindow, untilDeliveriesDone } from "./redis-probe.js";
import { redisServerPid } from "./support.js";

export interface QuickOptions {
  redisUrl: string;
  /** Seconds of load per rate (default 5). */
  loadSec?: number;
  /** Seconds of autocannon per accepted measurement (default 5). */
  acceptedSec?: number;
  /** Messages in the raw baseline (default 30,000). */
  rawMessages?: number;
  /**
   * No new rate is tried once the search has run this many seconds (the quick run's bound on its
   * wall time; default: no bound).
   */
  searchBudgetSec?: number;
  /** Sustained orders/s recorded as "before" (BENCHMARKS.md), for the speed-up target. */
  beforePerSec?: number;
  /**
   * The whole system in one process over Redis (`npm start` with REDIS_URL) instead of every
   * service its own process (`npm run bench -- --quick --one-process`).
   */
  oneProcess?: boolean;
  log?: (line: string) => void;
}

export interface OrderRun {
  result: CompletionResult;
  /** CPU seconds of every process from the first POST until every order had its outcome. */
  cpuSeconds: number;
  /** The same CPU seconds by process (service label, gateway, redis-server, bench driver). */
  cpuByProcess: Counts;
  /** What Redis ran and the bus carried in the same window. */
  redis: RedisWork;
  drive: DriveResult;
}

export interface QuickReport {
  raw: { messages: number; cpuSeconds: number; perSecond: number };
  runs: OrderRun[];
  half: CompletionResult | undefined;
  gateway: AcceptedResult;
  minimal: AcceptedResult;
  cost: Cost | undefined;
  figures: Figures;
  /** The last lines to print, each with its target. */
  lines: string[];
  /** Per process, per Redis command and per event, at the rate the cost was taken at. */
  breakdown: string[];
}

/** ×1.5 until a rate is not sustained, then two bisections between it and the last sustained one. */
const SEARCH = { first: 25, factor: 1.5, max: 6_000, refine: 2, minGap: 10 } as const;
/**
 * `SHIPPING_DELIVERY_DELAY_MS` of the measured system. At the default 5 s, a step's deliveries fell
 * in the next step's window (new-user finding F4: 1.6 `order.delivered` per order, a headline cost of
 * 1230 units for 741 a step earlier); waiting 5 s per step for them would instead fill each window
 * with idle CPU. The poller still delivers every order, only sooner.
 */
const DELIVERY_DELAY_MS = "100";
/** The MONITOR sample of top-level vs in-script commands: orders/s and seconds (its own window). */
const MONITOR_SAMPLE = { rate: 25, seconds: 2 } as const;
const BENCH_DRIVER = "bench driver";

async function redisPid(url: string): Promise<number> {
  const redis = new Redis(url);
  try {
    return await redisServerPid(redis);
  } finally {
    redis.disconnect();
  }
}

/** Starts bench/minimal-server.ts as its own process; resolves with its URL once it listens. */
async function startMinimal(redisUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", new URL("./minimal-server.ts", import.meta.url).pathname],
    {
      env: { ...process.env, REDIS_URL: redisUrl },
      stdio: ["ignore", "pipe", "inherit", "ipc"],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const ms = startTimeoutMs();
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`minimal server not up within ${ms} ms (BENCH_START_TIMEOUT_MS)`));
    }, ms);
    child.once("exit", (code) => reject(new Error(`minimal server exited (${code})`)));
    createInterface({ input: child.stdout! }).on("line", (line) => {
      const match = /^listening (\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
  });
  return { url, child };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

async function accepted(url: string, body: string, seconds: number): Promise<AcceptedResult> {
  await measureAccepted({ gatewayUrl: url, body, durationSec: 1 });
  return measureAccepted({ gatewayUrl: url, body, durationSec: seconds });
}

interface Probe {
  roots: number[];
  /** pid → process label (services, gateway, redis-server, this process). */
  labels: Map<number, string>;
  redis: Redis;
  /**
   * True when the last window closed on a quiet system (`untilDeliveriesDone` saw every delivery
   * made) and no order was sent since: the next window may open at once.
   */
  settled: boolean;
}

async function ordersAt(
  target: Target,
  outcomes: Outcomes,
  body: string,
  rate: number,
  loadSec: number,
  probe: Probe,
): Promise<OrderRun> {
  // Whole orders only. The wait that makes them is the one at the close: a step's own deliveries
  // (SHIPPING_DELIVERY_DELAY_MS after shipment) must fall inside its window, not in the next one
  // (fix-qbench, newuser F4: 1.6 deliveries per order). After a window that closed on a quiet
  // system the next opens at once; waiting again there only added a quiet second per step. The
  // opening wait is left for when the close did not see quiet (a backlog still delivering after
  // the 20 s bound), orders were sent since (the warm-up) or an unsustained rate's backlog was
  // drained since.
  if (!probe.settled) await untilDeliveriesDone(probe.redis);
  const work = await redisWindow(probe.redis);
  const before = snapshotTree(probe.roots);
  const drive = await driveOrders({
    gatewayUrl: target.gatewayUrl,
    body,
    ratePerSec: rate,
    durationSec: loadSec,
  });
  // A kept-up rate drains at once; a backlog gets a bounded wait (the search stops there anyway).
  await drain(drive, outcomes, Math.max(5_000, loadSec * 1_000));
  // …and closes once this step's deliveries are made (the breakdown's heading says when that failed).
  probe.settled = await untilDeliveriesDone(probe.redis);
  const after = snapshotTree(probe.roots);
  const redis = await work.stop();
  return {
    result: summarize("over Redis", rate, drive, outcomes),
    cpuSeconds: cpuSecondsBetween(before, after, TICKS_PER_SECOND),
    cpuByProcess: cpuByLabel(before, after, TICKS_PER_SECOND, probe.labels, BENCH_DRIVER),
    redis,
    drive,
  };
}

export async function benchQuick(options: QuickOptions): Promise<QuickReport> {
  const t0 = performance.now();
  const out = options.log ?? ((line: string) => console.log(line));
  const log = (line: string) =>
    out(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}`);
  const loadSec = options.loadSec ?? 5;
  const acceptedSec = options.acceptedSec ?? 5;
  const rawMessages = options.rawMessages ?? 30_000;
  const searchBudgetMs = (options.searchBudgetSec ?? Infinity) * 1000;
  const cores = availableParallelism();
  const loadAtStart = loadLine("start", loadavg()[0] ?? 0, cores);
  log(loadAtStart);
  const serverPid = await redisPid(options.redisUrl);
  const roots = [process.pid, serverPid];

  await rawStreams(options.redisUrl, 5_000); // warm-up (JIT, connections)
  const rawCpu = cpuWindow(roots);
  const rawRun = await rawStreams(options.redisUrl, rawMessages);
  const raw = { messages: rawMessages, cpuSeconds: rawCpu.stop(), perSecond: rawRun.perSecond };
  log(
    `raw baseline: ${raw.messages} messages, ${raw.perSecond} msgs/s, ${((raw.cpuSeconds / raw.messages) * 1e6).toFixed(1)} µs CPU per message`,
  );

  // The minimal server starts alongside the system (start-ups are slow on a loaded machine); it is
  // measured once both are up, before any order, and its idle process is left out of the order cost.
  log(
    options.oneProcess
      ? "launching the whole system in one process over Redis, and the minimal server…"
      : "launching every service over Redis, and the minimal server…",
  );
  const systemEnv = {
    GATEWAY_RATE_LIMIT_PER_MINUTE: "0",
    SHIPPING_DELIVERY_DELAY_MS: DELIVERY_DELAY_MS,
  };
  const [target, minimalServer] = await Promise.all([
    options.oneProcess
      ? startOneProcess(options.redisUrl, systemEnv)
      : startMultiProcess(options.redisUrl, systemEnv),
    startMinimal(options.redisUrl),
  ]);
  log("every service registered");
  let minimal: AcceptedResult;
  try {
    const body = JSON.stringify({
      userId: "u_0000000000000000",
      items: [{ productId: "minimal-widget", quantity: 1 }],
      payment: { token: "tok_ok" },
    });
    minimal = await accepted(minimalServer.url, body, acceptedSec);
    if (minimal.acceptedPerSecond === 0)
      throw new Error(
        `minimal server accepted nothing (${minimal.non2xx} non-2xx: ${minimal.non2xxStatuses}): check its body`,
      );
  } catch (error) {
    await target.stop();
    throw error;
  } finally {
    await stopChild(minimalServer.child);
  }
  log(`minimal fastify + zod + XADD server: ${minimal.acceptedPerSecond} accepted req/s`);
  const runs: OrderRun[] = [];
  let half: CompletionResult | undefined;
  let gateway: AcceptedResult;
  let sample: Breakdown["sample"];
  const probe: Probe = {
    roots,
    labels: new Map([
      ...[...target.pids].map(([label, pid]) => [pid, label] as const),
      [serverPid, "redis-server"],
      [process.pid, BENCH_DRIVER],
    ]),
    redis: new Redis(options.redisUrl, { maxRetriesPerRequest: null }),
    // The warm-up's orders come next: the first window waits for their deliveries.
    settled: false,
  };
  try {
    const outcomes = await watchOutcomes(target.transport, "bench-quick");
    let body: string;
    try {
      body = await seedOrderBody(target.gatewayUrl, `quick-${Date.now()}`);
      const warm = await driveOrders({
        gatewayUrl: target.gatewayUrl,
        body,
        ratePerSec: SEARCH.first,
        durationSec: 2,
      });
      // Until the warm-up orders are through (JIT, lazily made groups): slow on a loaded machine.
      await drain(warm, outcomes, 30_000);
      log(
        `warm-up: ${warm.placed.size} orders, ${[...warm.placed.keys()].filter((id) => outcomes.shipped.has(id)).length} shipped`,
      );
      const searchUntil = performance.now() + searchBudgetMs;
      for (
        let rate = nextRate([], SEARCH);
        rate !== undefined && performance.now() < searchUntil;
        rate = nextRate(
          runs.map((r) => ({ rate: r.result.rate, sustained: sustained(r.result) })),
          SEARCH,
        )
      ) {
        // A bisection after an unsustained rate starts once that rate's backlog is through.
        const previous = runs.at(-1);
        if (previous && !sustained(previous.result)) {
          await drain(previous.drive, outcomes, 20_000);
          // A backlog's orders can still be under way after the streams were quiet for a second
          // (a retry's backoff): whatever the drain waited for is not yet known to be delivered.
          probe.settled = false;
        }
        const run = await ordersAt(target, outcomes, body, rate, loadSec, probe);
        runs.push(run);
        const r = run.result;
        const stages = new Map<string, number>();
        for (const id of run.drive.placed.keys()) {
          const stage = outcomes.failed.get(id);
          if (stage !== undefined) stages.set(stage, (stages.get(stage) ?? 0) + 1);
        }
        if (r.failures > 0)
          log(
            `  failures: HTTP ${JSON.stringify(r.httpFailures)}, orders failed by stage ${JSON.stringify(Object.fromEntries(stages))}`,
          );
        log(
          `${rate} orders/s: ${r.completedPerSec} completed/s (${r.completed} of ${r.accepted} shipped, ${r.failures} failed), p99 ${r.placedToShipped.p99} ms, ` +
            `${((run.cpuSeconds * 1000) / Math.max(1, r.completed)).toFixed(2)} ms CPU per order, ` +
            `sustained ${sustained(r) ? "yes" : "no"}`,
        );
      }
      const best = highestSustained(runs.map((r) => r.result));
      if (best) {
        // Whatever the unsustained rate left queued must be gone before latency means anything.
        const backlog = runs.at(-1);
        if (backlog && !sustained(backlog.result)) {
          await drain(backlog.drive, outcomes, 20_000);
          probe.settled = false;
        }
        const at = latencyRate(best.rate);
        half = (await ordersAt(target, outcomes, body, at.rate, loadSec, probe)).result;
        log(`${at.label}: p99 placement → shipped ${half.placedToShipped.p99} ms`);
      }
      // Top-level vs in-script commands need MONITOR, which costs Redis CPU: its own short window at
      // a fixed low rate, after every measured one. It opens once the earlier windows' deliveries
      // are made (else they count as the sample's work: already so when the last window closed
      // settled) and closes once the sample's own are.
      if (!probe.settled) await untilDeliveriesDone(probe.redis);
      const monitor = await monitorWindow(probe.redis);
      const sampled = await driveOrders({
        gatewayUrl: target.gatewayUrl,
        body,
        ratePerSec: MONITOR_SAMPLE.rate,
        durationSec: MONITOR_SAMPLE.seconds,
      });
      await drain(sampled, outcomes, 10_000);
      probe.settled = await untilDeliveriesDone(probe.redis);
      const tally = (await monitor.stop()).calls;
      const sampledShipped = [...sampled.placed.keys()].filter((id) => outcomes.shipped.has(id)).length;
      sample = { orders: sampledShipped, rate: MONITOR_SAMPLE.rate, tally };
    } finally {
      await outcomes.stop();
    }
    // After the bench's own outcome watcher stopped: it read and acked every order's outcome events
    // in this process (the load generator's) and in Redis, work the minimal server's run did not
    // have beside it. Every service still runs and processes what the gateway accepts.
    gateway = await accepted(target.gatewayUrl, body, acceptedSec);
    log(
      `gateway over Redis: ${gateway.acceptedPerSecond} accepted req/s (${gateway.non2xx} non-2xx: ${gateway.non2xxStatuses}; ${gateway.errors} errors)`,
    );
  } finally {
    probe.redis.disconnect();
    await target.stop();
  }
  log("stopped");
  const loadAtEnd = loadLine("end", loadavg()[0] ?? 0, cores);
  log(loadAtEnd);

  const best = highestSustained(runs.map((r) => r.result));
  // None sustained (a machine too loaded for even the first rate): the cost at the lowest rate tried,
  // said so in the lines.
  const bestRun = runs.find((r) => r.result === best) ?? runs[0];
  const cost =
    bestRun && bestRun.result.completed > 0
      ? orderCost({
          orderCpuSeconds: bestRun.cpuSeconds,
          completedOrders: bestRun.result.completed,
          rawCpuSeconds: raw.cpuSeconds,
          rawMessages: raw.messages,
        })
      : undefined;
  const figures: Figures = {
    cost,
    costRate: bestRun?.result.rate,
    sustainedPerSec: best?.rate ?? 0,
    beforePerSec: options.beforePerSec,
    halfRate: half?.rate,
    p99Ms: half?.placedToShipped.p99,
    gatewayPerSec: gateway.acceptedPerSecond,
    minimalPerSec: minimal.acceptedPerSecond,
  };
  // The cost at the search's first rate, which every run measures: comparable between runs.
  const fixedRate = fixedRateCostLine(
    runs.map((r) => ({ rate: r.result.rate, completed: r.result.completed, cpuSeconds: r.cpuSeconds })),
    raw,
    SEARCH.first,
    bestRun?.result.rate,
  );
  const breakdown = bestRun
    ? breakdownLines({
        rate: bestRun.result.rate,
        completed: bestRun.result.completed,
        cpuSeconds: bestRun.cpuByProcess,
        commands: bestRun.redis.commands,
        messages: bestRun.redis.messages,
        ...(sample ? { sample } : {}),
      })
    : [];
  breakdown.push(
    fixedRate,
    options.oneProcess
      ? "system measured: the whole system in one process over Redis (npm start with REDIS_URL; --one-process); the targets below are the multi-process measure's"
      : "system measured: every service and the gateway its own process over Redis (npm run start:services)",
    `HMAC-SHA256 and sealing computed with: ${hmacImplementation()} (BUS_NATIVE_HMAC; every process reads it as this one does)`,
    loadAtStart,
    loadAtEnd,
  );
  return { raw, runs, half, gateway, minimal, cost, figures, lines: formatLastLines(figures), breakdown };
}

const n = (v: number) => v.toLocaleString("en-US");

/** The "Order cost" section of BENCHMARKS.md (full `npm run bench`). */
export function quickMarkdown(q: QuickReport): string {
  const rows = q.runs.map(({ result: r, cpuSeconds }) =>
    [
      n(r.rate),
      n(r.completed),
      n(r.completedPerSec),
      r.placedToShipped.p99,
      ((cpuSeconds / Math.max(1, r.completed)) * 1000).toFixed(2),
      sustained(r) ? "yes" : "no",
    ].join(" | "),
  );
  return `## Order cost in raw-message units (issue 14)

Order cost = (CPU seconds of every process — this benchmark's process (load generator, outcome
watcher), the six services, the gateway and \`redis-server\`, each read from \`/proc/<pid>/stat\`
utime + stime — per completed order over Redis at the highest sustained rate) ÷ (CPU seconds per
message of a raw \`XADD\` / \`XREADGROUP\` / \`XACK\` baseline, every process, Redis included), both in
this run. See bench/order-cost.ts and bench/quick.ts.

Raw baseline: ${n(q.raw.messages)} messages at ${n(q.raw.perSecond)} msgs/s, ${((q.raw.cpuSeconds / q.raw.messages) * 1e6).toFixed(1)} µs of CPU per message.

| offered/s | completed | completed/s | p99 placement → shipped ms | CPU ms per order | sustained |
|---:|---:|---:|---:|---:|:---:|
${rows.map((r) => `| ${r} |`).join("\n")}

Accepted \`POST /orders\`: through the gateway over Redis ${n(q.gateway.acceptedPerSecond)}/s (p99 ${q.gateway.p99} ms, ${n(q.gateway.non2xx)} non-2xx);
minimal fastify + zod + \`XADD\` server ${n(q.minimal.acceptedPerSecond)}/s (p99 ${q.minimal.p99} ms).

\`\`\`
${[...q.breakdown, ...q.lines].join("\n")}
\`\`\`
`;
}
