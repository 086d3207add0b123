/**
 * The pure parts of issue 14's measure (no I/O; the measuring is in bench/quick.ts).
 *
 * **Order cost in raw-message units** =
 *   (CPU seconds of every process per completed order over Redis, at the highest sustained rate)
 *   ÷ (CPU seconds per message of a raw XADD / XREADGROUP / XACK baseline),
 * both measured in the same run. "Every process" is the benchmark's whole process tree: the bench
 * process itself (load generator, outcome watcher; the raw baseline's producer and consumer), every
 * service process, the gateway and the private `redis-server`, each read from `/proc/<pid>/stat`
 * (utime + stime, clock ticks of `getconf CLK_TCK`, all threads) before and after. The order side's
 * window runs from the first POST of the measured load until every accepted order has an outcome;
 * the raw side's from the first XADD until the last message is acknowledged. A ratio of CPU to CPU,
 * so it hardly depends on how fast the machine is that day.
 */
import type { CompletionResult } from "./load-completion.js";
import { sustained } from "./load-completion.js";

export { sustained };

/** CPU a process has used, from the text of `/proc/<pid>/stat`. */
export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, in clock ticks. */
  ticks: number;
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold spaces and
 * parentheses, so fields are counted after the last ")". Returns undefined for text that is not one.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  // After ")": field 3 (state) is index 0, so ppid (field 4) is 1, utime (14) is 11, stime (15) is 12.
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const ppid = Number(rest[1]);
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  if (![pid, ppid, utime, stime].every(Number.isFinite) || rest.length < 13) return undefined;
  return { pid, ppid, ticks: utime + stime };
}

/** `root` and every process below it, from a list of stats (parents before children or not). */
export function processTree(stats: readonly ProcStat[], roots: readonly number[]): ProcStat[] {
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const byPid = new Map(stats.map((s) => [s.pid, s]));
  const seen = new Set<number>();
  const out: ProcStat[] = [];
  const visit = (pid: number) => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const self = byPid.get(pid);
    if (self) out.push(self);
    for (const child of children.get(pid) ?? []) visit(child.pid);
  };
  for (const root of roots) visit(root);
  return out;
}

/**
 * CPU seconds used between two snapshots of the same processes (ticks ÷ clock ticks per second).
 * A process only in `after` started in between and counts from zero; one only in `before` exited in
 * between and its last interval is lost (the benchmark starts and stops nothing inside a window).
 */
export function cpuSecondsBetween(
  before: readonly ProcStat[],
  after: readonly ProcStat[],
  ticksPerSecond: number,
): number {
  const start = new Map(before.map((s) => [s.pid, s.ticks]));
  let ticks = 0;
  for (const s of after) ticks += Math.max(0, s.ticks - (start.get(s.pid) ?? 0));
  return ticks / ticksPerSecond;
}

export interface CostInput {
  /** CPU seconds of every process while the orders ran (load start → all outcomes in). */
  orderCpuSeconds: number;
  /** Orders shipped in that window. */
  completedOrders: number;
  /** CPU seconds of every process while the raw baseline ran. */
  rawCpuSeconds: number;
  /** Messages the raw baseline moved (XADD → XREADGROUP → XACK). */
  rawMessages: number;
}

export interface Cost {
  /** CPU ms per completed order. */
  orderCpuMs: number;
  /** CPU µs per raw message. */
  rawCpuMicros: number;
  /** orderCpuMs ÷ rawCpuMs: an order costs as much CPU as this many raw messages. */
  units: number;
}

/** The order cost in raw-message units; throws on inputs that cannot give one (nothing measured). */
export function orderCost(input: CostInput): Cost {
  const { orderCpuSeconds, completedOrders, rawCpuSeconds, rawMessages } = input;
  if (!(completedOrders > 0) || !(rawMessages > 0) || !(rawCpuSeconds > 0) || !(orderCpuSeconds >= 0))
    throw new RangeError(`order cost needs orders, messages and raw CPU > 0: ${JSON.stringify(input)}`);
  const perOrder = orderCpuSeconds / completedOrders;
  const perMessage = rawCpuSeconds / rawMessages;
  return {
    orderCpuMs: perOrder * 1000,
    rawCpuMicros: perMessage * 1e6,
    units: perOrder / perMessage,
  };
}

export interface SearchOptions {
  first: number;
  factor: number;
  max: number;
  /**
   * Bisections after the first unsustained rate, between the highest sustained rate and the lowest
   * unsustained one (default 0: the search ends at the first unsustained rate).
   */
  refine?: number;
  /** No bisection once the two are this close, orders/s (default 10). */
  minGap?: number;
  /** The lowest rate a refinement tries when no rate was sustained, orders/s (default 10). */
  floor?: number;
}

/**
 * The next rate to try in the search for the highest sustained rate: `factor` × the last one while
 * every run so far was sustained (rounded to tens, at least 10 more), nothing more past `max`. After
 * the first unsustained rate, up to `refine` bisections between the highest sustained rate and the
 * lowest unsustained one (midpoint rounded to fives), while they are more than `minGap` apart.
 * When no rate was sustained (a loaded machine), a refinement halves the lowest rate tried instead
 * (rounded to fives), down to `floor`.
 */
export function nextRate(
  tried: readonly { rate: number; sustained: boolean }[],
  options: SearchOptions,
): number | undefined {
  const last = tried.at(-1);
  if (!last) return options.first;
  const firstFailure = tried.findIndex((t) => !t.sustained);
  if (firstFailure < 0) {
    const next = Math.round((last.rate * options.factor) / 10) * 10;
    return next > options.max ? undefined : Math.max(next, last.rate + 10);
  }
  if (tried.length - 1 - firstFailure >= (options.refine ?? 0)) return undefined;
  const sustainedRates = tried.filter((t) => t.sustained).map((t) => t.rate);
  const fives = (n: number) => Math.round(n / 5) * 5;
  if (sustainedRates.length === 0) {
    const half = fives(Math.min(...tried.map((t) => t.rate)) / 2);
    return half >= (options.floor ?? 10) ? half : undefined;
  }
  const low = Math.max(...sustainedRates);
  const high = Math.min(...tried.filter((t) => !t.sustained && t.rate > low).map((t) => t.rate));
  if (!Number.isFinite(high) || high - low <= (options.minGap ?? 10)) return undefined;
  const mid = fives((low + high) / 2);
  return mid > low && mid < high ? mid : undefined;
}

/**
 * Where the p99 is taken: half the highest sustained rate, rounded, but never under `floor` (10
 * orders/s, the lowest rate the search tries). When the clamp applies (a sustained rate under 20)
 * the rate is not half, and the label says so (new-user bench finding 6).
 */
export function latencyRate(sustainedRate: number, floor = 10): { rate: number; label: string } {
  const half = Math.round(sustainedRate / 2);
  if (half >= floor) return { rate: half, label: `half rate ${half} orders/s` };
  return {
    rate: floor,
    label: `at ${floor} orders/s (the lowest rate tried; not half the sustained ${sustainedRate})`,
  };
}

/** One measured rate of the search, as the fixed-rate cost needs it. */
export interface RateCpu {
  rate: number;
  completed: number;
  /** CPU seconds of every process in that rate's window. */
  cpuSeconds: number;
}

/**
 * The order cost at `rate`, a rate every run measures (the search's first, 25 orders/s), printed
 * before the last lines. CPU per order falls steeply as the rate rises (fixed costs — polling,
 * timers, idle reads — spread over more orders), so the headline cost, taken at the highest
 * sustained rate, which the machine's load picks, compares between runs only at equal rates; this
 * line compares at any (new-user bench finding 3).
 */
export function fixedRateCostLine(
  runs: readonly RateCpu[],
  raw: { cpuSeconds: number; messages: number },
  rate: number,
  costRate: number | undefined,
): string {
  const head = `cost at ${rate} orders/s (a rate every run measures; compare runs here)`;
  const run = runs.find((r) => r.rate === rate);
  if (!run || run.completed === 0) return `${head}: not measured (no order completed at that rate)`;
  const cost = orderCost({
    orderCpuSeconds: run.cpuSeconds,
    completedOrders: run.completed,
    rawCpuSeconds: raw.cpuSeconds,
    rawMessages: raw.messages,
  });
  const where =
    costRate === undefined || costRate === rate ? "" : `; the order cost below is at ${costRate} orders/s`;
  return `${head}: ${fmt(cost.orderCpuMs, 2)} ms CPU per order, ${fmt(cost.units)} raw-message units${where}`;
}

/** The sustained run with the highest rate (undefined when none was sustained). */
export function highestSustained(runs: readonly CompletionResult[]): CompletionResult | undefined {
  return runs
    .filter(sustained)
    .reduce<CompletionResult | undefined>(
      (best, r) => (best === undefined || r.rate > best.rate ? r : best),
      undefined,
    );
}

/** The "before" sustained orders/s recorded in BENCHMARKS.md as `<!-- before-sustained: 250 -->`. */
export function beforeSustainedFrom(markdown: string): number | undefined {
  const match = /<!--\s*before-sustained:\s*(\d+(?:\.\d+)?)\s*-->/.exec(markdown);
  return match ? Number(match[1]) : undefined;
}

export const COST_TARGETS = {
  /** Raw-message units per order. */
  units: 40,
  /** Sustained orders/s over Redis, as a multiple of the "before" figure. */
  speedup: 5,
  /** p99 placement → shipped at half the highest sustained rate, ms. */
  p99Ms: 50,
  /** Accepted POST /orders through the gateway over Redis, % of the minimal server. */
  acceptedSharePct: 40,
} as const;

export interface Figures {
  cost: Cost | undefined;
  /** The rate the cost was taken at (the highest sustained; the lowest tried when none was). */
  costRate: number | undefined;
  /** Highest sustained orders/s over Redis (0 when none of the rates tried was sustained). */
  sustainedPerSec: number;
  /** From BENCHMARKS.md; undefined when none is recorded. */
  beforePerSec: number | undefined;
  /** p99 placement → shipped at `halfRate`, ms. */
  halfRate: number | undefined;
  p99Ms: number | undefined;
  gatewayPerSec: number;
  minimalPerSec: number;
}

/**
 * The quick run's load line, printed at its start and end: rates and latencies of a run on a machine
 * busier than its cores are not comparable with a quiet run's (new-user finding F4: a sustained 15
 * against a "before" 140 read as a regression, at load 30 on 2 cores).
 */
export function loadLine(when: "start" | "end", loadAverage1m: number, cores: number): string {
  const line = `load average at ${when}: ${fmt(loadAverage1m)} on ${cores} cores`;
  // At the end the 1-minute average is mostly the run's own processes, which saturate the cores at
  // the highest rates: only the load found at the start says whether other work was running.
  if (when === "end") return `${line} (this run's own processes included)`;
  return loadAverage1m > cores
    ? `${line} (loaded: other work shared the CPUs, rates and latencies are low and noisy)`
    : line;
}

const fmt = (n: number, digits = 1) => (Math.round(n * 10 ** digits) / 10 ** digits).toFixed(digits);

/** The last lines `npm run bench -- --quick` prints, each with its target; the first is the order cost. */
export function formatLastLines(f: Figures): string[] {
  const costLine = f.cost
    ? `order cost: ${fmt(f.cost.units)} raw-message units (target <= ${COST_TARGETS.units})`
    : `order cost: not measured, no rate was sustained (target <= ${COST_TARGETS.units})`;
  const costNote =
    f.cost && f.costRate !== undefined && f.costRate !== f.sustainedPerSec
      ? `; no rate sustained, order cost taken at ${f.costRate} orders/s`
      : "";
  const target =
    f.beforePerSec === undefined
      ? `target ${COST_TARGETS.speedup}x the "before" figure, none recorded in BENCHMARKS.md`
      : `target >= ${Math.round(f.beforePerSec * COST_TARGETS.speedup)}, ${COST_TARGETS.speedup}x the "before" ${Math.round(f.beforePerSec)}, the quick run of main before issue 14's work on a quiet machine, in BENCHMARKS.md`;
  const p99 =
    f.halfRate === undefined || f.p99Ms === undefined
      ? `p99 placement → shipped at half the sustained rate: not measured (target <= ${COST_TARGETS.p99Ms} ms)`
      : `p99 placement → shipped at ${f.halfRate} orders/s: ${fmt(f.p99Ms)} ms (target <= ${COST_TARGETS.p99Ms} ms)`;
  const share = f.minimalPerSec > 0 ? (f.gatewayPerSec / f.minimalPerSec) * 100 : 0;
  return [
    costLine,
    `sustained orders/s over Redis: ${f.sustainedPerSec} (${target})${costNote}`,
    p99,
    `accepted POST /orders over Redis: ${fmt(share)}% of a minimal fastify + zod + XADD server (${Math.round(f.gatewayPerSec)} vs ${Math.round(f.minimalPerSec)} req/s) (target >= ${COST_TARGETS.acceptedSharePct}%)`,
  ];
}
