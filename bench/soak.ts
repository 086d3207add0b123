/**
 * `npm run soak -- --minutes N --rate R [--sample-seconds S] [--write] [--leak-kb-per-second K]`:
 * the multi-process system over a private Redis at a steady R orders/s for N minutes, sampled every
 * S seconds (default 60, or often enough for 3 samples after warm-up): Redis used_memory, keys and bytes per key family, stream lengths, every
 * process's RSS and heap (read after a forced full collection: the processes run with --expose-gc
 * and bench/soak-gc-hook.mjs). Prints the report (slopes after warm-up, drift over the last half,
 * `bytes per order: N`); with `--write` also puts it in BENCHMARKS.md. Exits 1 when any gate of
 * bench/soak-report.ts fails: the achieved rate, the driver's errors, an order not terminal after the
 * drain (`--drain-seconds`), a process gone or restarted, a heap, RSS or transient memory growing,
 * a key family over its per-order bound, or a key the scan flags. `--leak-kb-per-second K` makes the user
 * service keep K KB of heap a second (about 16 KB per validation at 10 orders/s is 160): the
 * deliberate leak the heap gate must catch.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Redis } from "ioredis";
import { seedOrderBody } from "./load-completion.js";
import { driveOrders } from "./load-driver.js";
import { startMultiProcess } from "./load-systems.js";
import { readModelKey } from "../src/lib/eventstore/keys.js";
import { ORDER_TAG } from "../src/services/order/keys.js";
import {
  analyse,
  defaultSampleSeconds,
  MIN_SAMPLES_AFTER_WARMUP,
  renderSoakReport,
  samplesAfterWarmup,
  type SoakConfig,
  TERMINAL_STATUSES,
} from "./soak-report.js";
import { HeapFloors, type ProcessProbe, type Sample, startTicks, takeSample } from "./soak-sampler.js";
import { machine, sleep, startBenchRedis } from "./support.js";
import { OBSERVER, provisionAclUsers } from "../src/system/redis-acl.js";
import { MARKER_TTL_MARGIN, markerTtlProblem, retentionEnvSchema } from "../src/lib/runtime/retention.js";

const USAGE = `usage: npm run soak -- [--minutes N (30)] [--rate R orders/s (10)] [--sample-seconds S (60)]
       [--drain-seconds D (120)] [--leak-kb-per-second K (0)] [--write]
The warm-up is a third of the run (two transient windows of a sixth, 30 s to 20 min) and the verdict
needs ${MIN_SAMPLES_AFTER_WARMUP} samples after it: without --sample-seconds a run shorter than 3 minutes samples more
often than every 60 s (2 minutes: every 40 s); a --sample-seconds that leaves fewer is refused.
After the load, every accepted order has D seconds to reach a terminal state.
The processes must register within BENCH_START_TIMEOUT_MS (default 180000 ms).`;

function parseOptions() {
  try {
    return parseArgs({
      options: {
        minutes: { type: "string", default: "30" },
        rate: { type: "string", default: "10" },
        "sample-seconds": { type: "string" },
        "drain-seconds": { type: "string", default: "120" },
        write: { type: "boolean", default: false },
        "leak-kb-per-second": { type: "string", default: "0" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const { values } = parseOptions();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

function positive(name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

const minutes = positive("minutes", values.minutes);
const rate = positive("rate", values.rate);
const drainSeconds = positive("drain-seconds", values["drain-seconds"]);
const leakKbPerSecond = Number(values["leak-kb-per-second"]);
if (!Number.isFinite(leakKbPerSecond) || leakKbPerSecond < 0) {
  console.error(`--leak-kb-per-second must be a number >= 0, got "${values["leak-kb-per-second"]}"`);
  process.exit(2);
}
const durationSec = minutes * 60;
// Transient windows a sixth of the run (15 s to 10 min): marks and group-less streams reach their
// steady state after one window; the warm-up is two, and the drift check covers the last half.
const windowMs = Math.round(Math.min(600, Math.max(15, durationSec / 6)) * 1000);
const warmupSec = (2 * windowMs) / 1000;
const sampleSeconds =
  values["sample-seconds"] === undefined
    ? defaultSampleSeconds(durationSec, warmupSec)
    : positive("sample-seconds", values["sample-seconds"]);
if (
  sampleSeconds === undefined ||
  samplesAfterWarmup(durationSec, warmupSec, sampleSeconds) < MIN_SAMPLES_AFTER_WARMUP
) {
  const most = defaultSampleSeconds(durationSec, warmupSec);
  console.error(
    `a ${minutes}-minute run with a warm-up of ${warmupSec} s ${sampleSeconds === undefined ? "is too short" : `sampled every ${sampleSeconds} s leaves ${samplesAfterWarmup(durationSec, warmupSec, sampleSeconds)} samples after warm-up`}: the verdict needs ${MIN_SAMPLES_AFTER_WARMUP}${most === undefined ? "; run longer" : `; use --sample-seconds ${most} or less (or leave it out)`}`,
  );
  process.exit(2);
}
const env = {
  MARKER_TTL_MS: String(windowMs),
  // The marks must outlive these by MARKER_TTL_MARGIN (checked at start: room to retry a dead
  // letter of the window's end); a healthy run never comes near them.
  BUS_MUST_COMPLETE_WINDOW_MS: String(Math.floor(windowMs / (1 + MARKER_TTL_MARGIN))),
  SAGA_COMPENSATION_WINDOW_MS: String(Math.floor(windowMs / (1 + MARKER_TTL_MARGIN))),
  STREAM_RETENTION_MS: String(windowMs),
  STREAM_TRIM_INTERVAL_MS: String(Math.min(10_000, Math.round(windowMs / 4))),
  DLQ_AUDIT_RETENTION_MS: String(windowMs),
  // The order service's folded-order cache fills within one window too (its bound, not its default).
  ORDER_CACHE_SIZE: String(Math.max(100, Math.round((rate * windowMs) / 1000))),
  // The driver's orders carry Idempotency-Keys: their records are transient, kept one window.
  ORDER_IDEMPOTENCY_TTL_MS: String(windowMs),
};
{
  const problem = markerTtlProblem(retentionEnvSchema.parse(env));
  if (problem) throw new Error(`the soak's own windows: ${problem}`);
}
/** What every process gets besides the windows: the GC hook, and the deliberate leak when asked. */
const hook = fileURLToPath(new URL("./soak-gc-hook.mjs", import.meta.url));
const processEnv = {
  ...env,
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --expose-gc --import ${hook}`.trim(),
  ...(leakKbPerSecond > 0
    ? { SOAK_LEAK_BYTES_PER_SECOND: String(leakKbPerSecond * 1024), SOAK_LEAK_PROCESS: "services/user" }
    : {}),
};
const config: SoakConfig = {
  minutes,
  rate,
  sampleSeconds,
  warmupSeconds: warmupSec,
  windowSeconds: windowMs / 1000,
  slackSeconds: (3 * Number(env.STREAM_TRIM_INTERVAL_MS)) / 1000,
  forcedGc: true,
  env,
  command: `npm run soak -- --minutes ${minutes} --rate ${rate}${values["sample-seconds"] === undefined ? "" : ` --sample-seconds ${sampleSeconds}`}${leakKbPerSecond > 0 ? ` --leak-kb-per-second ${leakKbPerSecond}` : ""}`,
  machine: machine(),
  date: new Date().toISOString().slice(0, 10),
};

const MARK_START = "<!-- soak:start -->";
const MARK_END = "<!-- soak:end -->";

/** Puts the report between the soak markers of BENCHMARKS.md (appended the first time). */
function writeBenchmarks(report: string): void {
  const file = new URL("../BENCHMARKS.md", import.meta.url);
  const doc = readFileSync(file, "utf8");
  const section = `${MARK_START}\n${report}\n${MARK_END}`;
  const start = doc.indexOf(MARK_START);
  const end = doc.indexOf(MARK_END);
  const updated =
    start >= 0 && end > start
      ? doc.slice(0, start) + section + doc.slice(end + MARK_END.length)
      : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(file, updated);
}

async function probes(gatewayUrl: string, pids: Map<string, number>): Promise<ProcessProbe[]> {
  const res = await fetch(`${gatewayUrl}/services`);
  const body = (await res.json()) as {
    services: { name: string; instances: { instanceId: string; address: string; port: number }[] }[];
  };
  return [...pids].map(([label, pid]) => {
    const instance = body.services.find((s) => s.name === label)?.instances[0];
    const metricsUrl =
      label === "gateway"
        ? `${gatewayUrl}/metrics`
        : instance && `http://${instance.address}:${instance.port}/metrics`;
    return {
      label,
      pid,
      metricsUrl,
      startTicks: startTicks(pid),
      ...(label === "gateway" ? {} : { instanceId: instance?.instanceId ?? "(not registered)" }),
    };
  });
}

/** Accepted orders by status (`missing`: no view), from the order views. */
async function statusesOf(redis: Redis, orderIds: readonly string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const key = readModelKey(ORDER_TAG, "order-view-v1");
  for (let i = 0; i < orderIds.length; i += 500) {
    const views = await redis.hmget(key, ...orderIds.slice(i, i + 500));
    for (const json of views) {
      const status = json
        ? ((JSON.parse(json) as { value?: { status?: string } }).value?.status ?? "?")
        : "missing";
      counts[status] = (counts[status] ?? 0) + 1;
    }
  }
  return counts;
}

/** Waits up to `seconds` for every order to reach a terminal state; their statuses then. */
async function drain(
  redis: Redis,
  orderIds: readonly string[],
  seconds: number,
): Promise<Record<string, number>> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const statuses = await statusesOf(redis, orderIds);
    const done = Object.keys(statuses).every((s) => TERMINAL_STATUSES.includes(s));
    if (done || Date.now() > deadline) return statuses;
    await sleep(1_000);
  }
}

const redisServer = await startBenchRedis();
let exitCode = 1;
try {
  console.log(
    `soak: ${minutes} min at ${rate} orders/s, sample every ${sampleSeconds} s, windows ${windowMs} ms`,
  );
  const target = await startMultiProcess(redisServer.url, processEnv);
  // The sampler only reads: it connects as the read-only `observer` ACL user (redis-acl.ts).
  const admin = new Redis(redisServer.url, { maxRetriesPerRequest: null });
  const observer = (await provisionAclUsers(admin, { users: [OBSERVER] })).get(OBSERVER.name)!;
  admin.disconnect();
  const redis = new Redis(redisServer.url, { ...observer, maxRetriesPerRequest: null });
  try {
    const processes = await probes(target.gatewayUrl, target.pids);
    const body = await seedOrderBody(target.gatewayUrl, `soak-${Date.now()}`);
    const startedAt = Date.now();
    // Keyed orders: one whose kept-alive socket the gateway closed as it was written is resent with
    // its key (load-driver.ts), reported apart from the orders failed for good.
    const drive = driveOrders({
      gatewayUrl: target.gatewayUrl,
      body,
      ratePerSec: rate,
      durationSec,
      idempotencyKeys: true,
    });
    const samples: Sample[] = [];
    const heaps = new HeapFloors(processes, 2_000, true);
    for (let k = 0; k * sampleSeconds <= durationSec; k++) {
      const wait = startedAt + k * sampleSeconds * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      const sampling = Date.now();
      const sample = await takeSample({
        redis,
        processes,
        heaps,
        startedAt,
        streamRetentionMs: windowMs,
        dlqAuditRetentionMs: windowMs,
        markerTtlMs: windowMs,
        heartbeatIntervalMs: 30_000, // the services' default HEARTBEAT_INTERVAL_MS
        slackMs: 3 * Number(env.STREAM_TRIM_INTERVAL_MS),
        // A group may fall a minute behind on a loaded machine; a pending entry lives at most the
        // must-complete window; a saga deadline or a delivery may be a minute late.
        groupLagMs: 60_000,
        pendingMaxAgeMs: Number(env.BUS_MUST_COMPLETE_WINDOW_MS),
        overdueMs: 60_000,
      });
      samples.push(sample);
      console.log(
        `t=${(sample.t / 60).toFixed(1)} min orders=${sample.orders} in-flight=${sample.inFlight} used_memory=${(sample.usedMemory / 2 ** 20).toFixed(1)} MB transient=${(sample.transientBytes / 2 ** 20).toFixed(2)} MB (sampled in ${Date.now() - sampling} ms)`,
      );
    }
    heaps.stop();
    const driven = await drive;
    console.log(
      `load: sent ${driven.sent}, accepted ${driven.accepted}, failures ${JSON.stringify(driven.failures)}, resent ${driven.resent} (${driven.replayed} replayed)`,
    );
    const endStatuses = await drain(redis, [...driven.placed.keys()], drainSeconds);
    console.log(`orders at the end (drain up to ${drainSeconds} s): ${JSON.stringify(endStatuses)}`);
    const analysis = analyse(samples, config, { ...driven, endStatuses });
    const report = renderSoakReport(samples, config, analysis);
    console.log(`\n${report}`);
    if (values.write) writeBenchmarks(report);
    exitCode = analysis.passed ? 0 : 1;
  } finally {
    redis.disconnect();
    await target.stop();
  }
} finally {
  await redisServer.stop();
}
process.exit(exitCode);
