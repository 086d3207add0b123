/**
 * End-to-end load benchmark: orders accepted per second through the gateway (embedded system), and
 * orders completed per second with placement→shipped latency, over Redis with every service its own
 * process and on the embedded in-memory system. When a target is missed it profiles the run and
 * says where the time goes. `benchLoad` returns the numbers and a Markdown section for BENCHMARKS.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AcceptedResult, measureAccepted } from "./load-accepted.js";
import {
  type CompletionResult,
  drain,
  seedOrderBody,
  summarize,
  sustained,
  watchOutcomes,
} from "./load-completion.js";
import { driveOrders } from "./load-driver.js";
import {
  type ProfileSummary,
  profilerPreload,
  profilesIn,
  profileThisThread,
  summarizeProfile,
  summarizeProfileFile,
  watchCpu,
} from "./load-profile.js";
import { loadMarkdown, TARGETS } from "./load-report.js";
import { startEmbedded, startMultiProcess, type Target } from "./load-systems.js";

export interface RateRun {
  result: CompletionResult;
  /** Share of one core each process used while the load ran, in %. */
  cpu: Record<string, number>;
}

export interface LabelledProfile {
  label: string;
  summary: ProfileSummary;
}

export interface LoadReport {
  accepted: AcceptedResult;
  overRedis: RateRun[];
  embedded: RateRun[];
  /** Profiles taken because a target was missed (empty when every target was met). */
  profiles: LabelledProfile[];
  durationSec: number;
  markdown: string;
}

export interface LoadOptions {
  redisUrl: string;
  /** Seconds of load per measurement (default 10). */
  durationSec?: number;
  /** Completion rates tried over Redis (default 100, 250, 500, 1000, 2000 orders/s). */
  rates?: readonly number[];
  /** Completion rates tried on the embedded system (default 500, 1000, 2000 orders/s). */
  embeddedRates?: readonly number[];
  /** `auto` (default): profile only when a target is missed. */
  profile?: "auto" | "always" | "never";
  log?: (line: string) => void;
}

const GROUP = "bench-load";

async function measureRate(
  target: Target,
  label: string,
  rate: number,
  durationSec: number,
  beforeLoad: () => void = () => {},
): Promise<RateRun> {
  const outcomes = await watchOutcomes(target.transport, GROUP);
  try {
    const body = await seedOrderBody(target.gatewayUrl, `${rate}-${Date.now()}`);
    // Warm-up (JIT, connections, lazily created streams), not counted.
    const warm = await driveOrders({
      gatewayUrl: target.gatewayUrl,
      body,
      ratePerSec: Math.min(rate, 500),
      durationSec: 1,
    });
    await drain(warm, outcomes, 5_000);
    beforeLoad();
    const pids = new Map([...target.pids, ["bench", process.pid] as const]);
    const cpu = watchCpu(pids);
    const redisBefore = await target.redisCpu();
    const started = performance.now();
    const drive = await driveOrders({ gatewayUrl: target.gatewayUrl, body, ratePerSec: rate, durationSec });
    const shares = cpu.stop();
    const redisAfter = await target.redisCpu();
    if (redisBefore !== undefined && redisAfter !== undefined)
      shares.redis = Math.round(((redisAfter - redisBefore) / ((performance.now() - started) / 1000)) * 100);
    await drain(drive, outcomes, Math.max(3_000, durationSec * 1_000));
    return { result: summarize(label, rate, drive, outcomes), cpu: shares };
  } finally {
    await outcomes.stop();
  }
}

async function acceptedPhase(durationSec: number, profile: LoadOptions["profile"], log: (l: string) => void) {
  const target = await startEmbedded();
  try {
    const body = await seedOrderBody(target.gatewayUrl, `accepted-${Date.now()}`);
    await measureAccepted({ gatewayUrl: target.gatewayUrl, body, durationSec: Math.min(2, durationSec) });
    const accepted = await measureAccepted({ gatewayUrl: target.gatewayUrl, body, durationSec });
    log(`accepted: ${accepted.perSecond} req/s, p99 ${accepted.p99} ms, non-2xx ${accepted.non2xx}`);
    const profiles: LabelledProfile[] = [];
    if (profile === "always" || (profile !== "never" && accepted.perSecond < TARGETS.acceptedPerSec)) {
      const seconds = Math.max(1, Math.min(5, durationSec));
      const run = await profileThisThread(() =>
        measureAccepted({ gatewayUrl: target.gatewayUrl, body, durationSec: seconds }),
      );
      profiles.push({
        label: `embedded system under POST /orders (autocannon, ${seconds} s)`,
        summary: summarizeProfile("in-process", run.profile),
      });
    }
    return { accepted, profiles };
  } finally {
    await target.stop();
  }
}

/** Each rate on a freshly started system (stopped afterwards whatever happens), logged as it ends. */
async function ratesOn(
  start: () => Promise<Target>,
  label: string,
  rates: readonly number[],
  durationSec: number,
  log: (line: string) => void,
): Promise<RateRun[]> {
  const runs: RateRun[] = [];
  for (const rate of rates) {
    const target = await start();
    let run: RateRun;
    try {
      run = await measureRate(target, label, rate, durationSec);
    } finally {
      await target.stop();
    }
    runs.push(run);
    const r = run.result;
    log(
      `${label} ${rate}/s: ${r.completedPerSec} completed/s, p99 ${r.placedToShipped.p99} ms, incomplete ${r.incomplete}`,
    );
  }
  return runs;
}

/** Reruns `rate` with every process under `--cpu-prof`; returns the busiest processes' profiles. */
export async function profileRedis(
  redisUrl: string,
  rate: number,
  durationSec: number,
): Promise<LabelledProfile[]> {
  const dir = mkdtempSync(join(tmpdir(), "ordersaga-load-prof-"));
  try {
    const profiler = profilerPreload(dir);
    const target = await startMultiProcess(redisUrl, { NODE_OPTIONS: profiler.nodeOptions });
    let run: RateRun;
    try {
      run = await measureRate(target, "profiled", rate, durationSec, profiler.start);
    } finally {
      await target.stop();
    }
    const byPid = new Map([...target.pids].map(([label, pid]) => [pid, label]));
    const busiest = Object.entries(run.cpu)
      .filter(([label]) => target.pids.has(label))
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3);
    const profiles: LabelledProfile[] = [];
    for (const file of profilesIn(dir)) {
      const pid = Number(/(\d+)\.cpuprofile$/.exec(file)?.[1]);
      const label = byPid.get(pid);
      const share = busiest.find(([l]) => l === label)?.[1];
      if (label && share !== undefined)
        profiles.push({
          label: `${label} at ${rate} orders/s (${share}% of a core)`,
          summary: summarizeProfileFile(file),
        });
    }
    return profiles.sort((a, b) => b.summary.seconds - a.summary.seconds);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function redisTargetsMet(runs: readonly RateRun[]): boolean {
  const at500 = runs.find((r) => r.result.rate === 500)?.result;
  const maxSustained = Math.max(0, ...runs.filter((r) => sustained(r.result)).map((r) => r.result.rate));
  return (
    maxSustained >= TARGETS.completedPerSec &&
    (at500 === undefined || at500.placedToShipped.p99 <= TARGETS.p99At500Ms)
  );
}

export async function benchLoad(options: LoadOptions): Promise<LoadReport> {
  const durationSec = options.durationSec ?? 10;
  const log = options.log ?? ((line: string) => console.log(line));
  const profile = options.profile ?? "auto";
  const { accepted, profiles } = await acceptedPhase(durationSec, profile, log);
  const overRedis = await ratesOn(
    () => startMultiProcess(options.redisUrl),
    "multi-process over Redis",
    options.rates ?? [100, 250, 500, 1_000, 2_000],
    durationSec,
    log,
  );
  if (profile === "always" || (profile !== "never" && !redisTargetsMet(overRedis))) {
    const broken = overRedis.find((r) => !sustained(r.result)) ?? overRedis.at(-1);
    if (broken)
      profiles.push(...(await profileRedis(options.redisUrl, broken.result.rate, Math.min(5, durationSec))));
  }
  const embedded = await ratesOn(
    startEmbedded,
    "embedded in-memory",
    options.embeddedRates ?? [500, 1_000, 2_000],
    durationSec,
    log,
  );
  const report = { accepted, overRedis, embedded, profiles, durationSec, profiling: profile };
  return { ...report, markdown: loadMarkdown(report) };
}
