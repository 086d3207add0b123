/**
 * What a soak run's samples say: slopes after warm-up, drift over the last half, bytes per order of
 * the system of record, and the verdict; rendered as the Markdown section of BENCHMARKS.md.
 */
import { KEY_FAMILIES } from "../src/system/key-families.js";
import type { Sample } from "./soak-sampler.js";
import { drift, type Point, since, slope, slopeStdError } from "./soak-stats.js";

/** Transient Redis memory may drift this much over the last half (the issue's 5%). */
export const TRANSIENT_DRIFT_LIMIT = 0.05;
/**
 * A heap "keeps growing" when it drifts more than this over the last half *and* its floor rose this
 * much: without forced collections, its lowest value in the last half against its lowest between
 * warm-up and half-time (a leak lifts the floor the collector returns to, while a short run's
 * samples can sit anywhere on its sawtooth); with them (`forcedGc`, the heap each process retains),
 * its lowest value over the last third of the run after warm-up against the first third.
 */
export const HEAP_DRIFT_LIMIT = 0.1;
/**
 * Transient keys "keep growing" on the same two conditions, with this limit: a family without its
 * bound grows by rate × time, a healthy one only wobbles with the load (rate × window).
 */
export const TRANSIENT_KEYS_DRIFT_LIMIT = 0.1;

const floor = (points: readonly Point[]): number => Math.min(...points.map((p) => p.v));

/** How much the floor of the last third (after warm-up) is above the floor of the first third. */
function floorRise(points: readonly Point[], from: number, to: number): number {
  const third = (to - from) / 3;
  const first = points.filter((p) => p.t >= from && p.t < from + third);
  const last = points.filter((p) => p.t >= to - third);
  if (first.length === 0 || last.length === 0) return 0;
  const base = floor(first);
  return base <= 0 ? 0 : floor(last) / base - 1;
}

/**
 * Absolute budgets: the drift limits above are relative to a series' own mean over half a run, so a
 * slow leak on a large base passes them for ever (break-11 F3: a heap growing 2.5 KB/s, 216 MB a day,
 * drifted 9.4%; transient Redis memory growing 0.25 KB/s, 21 MB a day, 4.1%). A bounded system's
 * slope is 0, so each of these series must also keep the growth its slope projects over a day under
 * a budget: transient Redis memory 8 MB a day (about 3 GB a year, the order of the whole transient
 * footprint at the default windows), each process's heap 64 MB a day (a Node heap's headroom over
 * the ~25 MB the services use, in a day). The slope judged is the lower end of its 95% interval
 * (slope - 2 standard errors): the growth the run establishes, not its scatter (a 30-minute run's
 * sawtooth moves a fitted heap slope by about 1 KB/s). A healthy 30-minute run (BENCHMARKS.md)
 * establishes no growth at all (bench/soak-budget.test.ts).
 */
export const TRANSIENT_BUDGET_BYTES_PER_DAY = 8 * 1024 * 1024;
export const HEAP_BUDGET_BYTES_PER_DAY = 64 * 1024 * 1024;
/** Standard errors taken off a fitted slope before it is projected (the lower end of ~95%). */
export const SLOPE_STANDARD_ERRORS = 2;
/**
 * The budgets' slope is fitted over the last half of the run (after warm-up), where a leak keeps
 * growing and the processes have settled: a healthy 2-minute slice's heaps still rise 5-12 KB/s
 * (JIT, pools, caches filling to their bounds). Fitted over less than this (s), it is reported, not
 * judged: the CI slice reports the projection; the 30-minute run (15 minutes fitted) judges it.
 */
export const BUDGET_MIN_SPAN_SECONDS = 10 * 60;

/** An accepted order must be in one of these states when the run ends (after the drain). */
export const TERMINAL_STATUSES: readonly string[] = ["delivered", "failed", "cancelled"];
/** The run must achieve at least this share of the target rate (accepted orders per second of run). */
export const MIN_RATE_SHARE = 0.9;
/** Non-202 answers and transport errors allowed, as a share of the orders offered (0.1%). */
export const DRIVER_ERROR_BUDGET = 0.001;
/**
 * A process's RSS "keeps growing" when its lowest reading in the last third of the run after
 * warm-up is more than this above the first third's (RSS follows the heap, plus buffers and code).
 */
export const RSS_FLOOR_RISE_LIMIT = 0.25;
/** Samples after warm-up a process may lack a heap reading in (its /metrics did not answer). */
export const MISSING_HEAP_SHARE = 0.1;
/**
 * Headroom of a transient family's per-order bound (key-families.ts `perOrder`): it may hold
 * `perOrder × (orders placed within its window plus the trim slack × (1 + margin) + allowance)`.
 */
export const FAMILY_MARGIN = 0.25;
export const FAMILY_ALLOWANCE_ORDERS = 20;
/**
 * Entries a stream may keep past its bound because trimming is approximate (`~`: whole radix-tree
 * nodes go, Redis's `stream-node-max-entries` default 100): added per stream to an `entries` bound.
 */
export const STREAM_NODE_ENTRIES = 100;
/** Fewer samples than this after warm-up cannot show a trend: the run fails. */
export const MIN_SAMPLES_AFTER_WARMUP = 3;

/** Samples a run takes at or after warm-up: one every `sampleSeconds` from t = 0 to the end. */
export function samplesAfterWarmup(durationSec: number, warmupSec: number, sampleSeconds: number): number {
  return Math.max(0, Math.floor(durationSec / sampleSeconds) - Math.ceil(warmupSec / sampleSeconds) + 1);
}

/**
 * The sampling interval of a run not given `--sample-seconds`: a minute when that leaves
 * MIN_SAMPLES_AFTER_WARMUP samples after warm-up (a run of 3 minutes or more), else the longest
 * whole number of seconds that does (break-11 F4: 2 minutes at one a minute left 2, and could never
 * pass). undefined: no interval does (the run is no longer than its warm-up).
 */
export function defaultSampleSeconds(durationSec: number, warmupSec: number): number | undefined {
  for (let seconds = 60; seconds >= 1; seconds--)
    if (samplesAfterWarmup(durationSec, warmupSec, seconds) >= MIN_SAMPLES_AFTER_WARMUP) return seconds;
  return undefined;
}

export interface SoakConfig {
  minutes: number;
  rate: number;
  sampleSeconds: number;
  warmupSeconds: number;
  /** The transient windows of the run (`MARKER_TTL_MS`, `STREAM_RETENTION_MS`), seconds. */
  windowSeconds: number;
  /** How long trimming may lag (a few trim intervals), seconds. */
  slackSeconds: number;
  /** Heaps were read after a forced full collection (bench/soak-gc-hook.mjs). */
  forcedGc?: boolean;
  /** The environment the services ran with (the shortened windows). */
  env: Record<string, string>;
  command: string;
  machine: string;
  date: string;
}

/** The load the soak drove and where its orders ended (bench/soak.ts fills it). */
export interface SoakLoad {
  /** Orders the schedule asked for (rate × duration). */
  offered: number;
  sent: number;
  /** 202 answers (orders placed). */
  accepted: number;
  /** Orders that failed for good: non-202 answers and transport errors, by status or error code. */
  failures: Record<string, number>;
  /**
   * Orders resent with their Idempotency-Key after a connection-level error (load-driver.ts;
   * absent: 0). Reported, not errors: only an order whose resend failed too is in `failures`.
   */
  resent?: number;
  /** Resends answered `Idempotent-Replayed`: the first attempt had placed the order (absent: 0). */
  replayed?: number;
  /** Accepted orders by their status once the drain ended; `missing`: no view of the order. */
  endStatuses: Record<string, number>;
}

export interface SeriesVerdict {
  name: string;
  /** Per minute, after warm-up. */
  slopePerMin: number;
  /** Over the last half of the run. */
  drift: number;
  unit: "MB" | "keys";
  /** undefined: reported only. */
  ok: boolean | undefined;
}

/** One rule of the verdict: what was measured against its limit. */
export interface Gate {
  rule: string;
  measured: string;
  limit: string;
  ok: boolean;
}

export interface SoakAnalysis {
  series: SeriesVerdict[];
  gates: Gate[];
  bytesPerOrder: number;
  bytesPerOrderByFamily: { pattern: string; bytes: number }[];
  /** Keys of no family and transient keys over their bound, seen by the scans. */
  problems: string[];
  /** Why the run failed: the failed gates and the problems; empty when it passed. */
  failures: string[];
  passed: boolean;
}

const MB = 1024 * 1024;
const mb = (n: number) => (n / MB).toFixed(1);
const cell = (text: string) => text.replaceAll("|", "\\|");
const pct = (n: number) => `${(n * 100).toFixed(1)}%`;

/** Orders placed in (t - seconds, t], from the samples' order counts (linear between samples). */
function ordersWithin(samples: readonly Sample[], t: number, seconds: number): number {
  const at = (time: number): number => {
    if (time <= 0 || samples.length === 0) return 0;
    let before: Sample | undefined;
    for (const s of samples) {
      if (s.t === time) return s.orders;
      if (s.t > time) {
        if (!before) return 0;
        return before.orders + ((s.orders - before.orders) * (time - before.t)) / (s.t - before.t);
      }
      before = s;
    }
    return before?.orders ?? 0;
  };
  return at(t) - at(t - seconds);
}

/**
 * Orders whose saga ended in (t - seconds, t], at most: orders ended by t (placed less in flight)
 * less those ended by the last sample at or before t - seconds (ends between samples are not
 * interpolated: a burst of them counts in full).
 */
function endedWithin(samples: readonly Sample[], t: number, seconds: number): number {
  const ended = (s: Sample) => s.orders - s.inFlight;
  const now = samples.find((s) => s.t === t);
  if (!now) return 0;
  let before: Sample | undefined;
  for (const s of samples) if (s.t <= t - seconds) before = s;
  return Math.max(0, ended(now) - (before ? ended(before) : 0));
}

export function analyse(samples: readonly Sample[], config: SoakConfig, load: SoakLoad): SoakAnalysis {
  const half = (config.minutes * 60) / 2;
  const warm = samples.filter((s) => s.t >= config.warmupSeconds);
  const series: SeriesVerdict[] = [];
  const gates: Gate[] = [];
  const gate = (rule: string, measured: string, limit: string, ok: boolean) =>
    gates.push({ rule, measured, limit, ok });
  const end = samples[samples.length - 1]?.t ?? config.minutes * 60;
  /** none: drift alone; half: the sawtooth floor rule; thirds: the floor of a steady series. */
  const add = (
    name: string,
    points: Point[],
    limit: number | undefined,
    unit: "MB" | "keys" = "MB",
    floorCheck: "none" | "half" | "thirds" = "none",
  ) => {
    const d = drift(since(points, half));
    const before = points.filter((p) => p.t >= config.warmupSeconds && p.t < half);
    const floorRose =
      floorCheck === "none"
        ? true
        : floorCheck === "thirds"
          ? floorRise(points, config.warmupSeconds, end) > (limit ?? 0)
          : before.length === 0 || floor(since(points, half)) > floor(before) * (1 + (limit ?? 0));
    const verdict: SeriesVerdict = {
      name,
      slopePerMin: slope(since(points, config.warmupSeconds)) * 60,
      drift: d,
      unit,
      ok: limit === undefined ? undefined : d <= limit || !floorRose,
    };
    series.push(verdict);
    if (verdict.ok !== undefined)
      gate(`${name} flat`, `drift ${pct(d)}`, `${pct(limit ?? 0)} (with its floor rising)`, verdict.ok);
    return verdict;
  };
  const points = (pick: (s: Sample) => number | undefined): Point[] =>
    samples.flatMap((s) => {
      const v = pick(s);
      return v === undefined ? [] : [{ t: s.t, v }];
    });

  /** The growth a series' slope establishes (its lower bound), projected over a day, against a budget. */
  const budget = (name: string, series: Point[], perDay: number) => {
    const after = since(series, Math.max(config.warmupSeconds, half));
    const span = after.length > 0 ? after[after.length - 1]!.t - after[0]!.t : 0;
    const fitted = slope(after);
    const error = SLOPE_STANDARD_ERRORS * slopeStdError(after);
    const projected = Number.isFinite(error) ? Math.max(0, fitted - error) * 86_400 : 0;
    const judged = span >= BUDGET_MIN_SPAN_SECONDS;
    const kb = (n: number) => (n / 1024).toFixed(3);
    gate(
      `${name} growth over a day`,
      `${mb(projected)} MB/day established (slope ${kb(fitted)} ± ${Number.isFinite(error) ? kb(error) : "?"} KB/s over ${(span / 60).toFixed(1)} min)`,
      judged
        ? `<= ${mb(perDay)} MB/day`
        : `not judged: last half after warm-up shorter than ${BUDGET_MIN_SPAN_SECONDS / 60} min`,
      !judged || projected <= perDay,
    );
  };

  // The load: the rate achieved, the driver's errors, and every order's end.
  const durationSec = config.minutes * 60;
  const achieved = load.accepted / durationSec;
  gate(
    "achieved rate (orders accepted per second of run)",
    `${achieved.toFixed(2)}/s`,
    `>= ${(MIN_RATE_SHARE * config.rate).toFixed(2)}/s (${MIN_RATE_SHARE * 100}% of ${config.rate}/s)`,
    achieved >= MIN_RATE_SHARE * config.rate,
  );
  const driverErrors = Object.values(load.failures).reduce((n, k) => n + k, 0);
  const errorBudget = Math.floor(DRIVER_ERROR_BUDGET * load.offered);
  const resent = load.resent ?? 0;
  gate(
    "load driver errors (non-202 answers, transport errors)",
    `${driverErrors}${driverErrors > 0 ? ` ${JSON.stringify(load.failures)}` : ""}` +
      (resent > 0
        ? `; resent after a connection error: ${resent} (${load.replayed ?? 0} replayed: placed by the first attempt)`
        : ""),
    `<= ${errorBudget} (${DRIVER_ERROR_BUDGET * 100}% of ${load.offered} offered)`,
    driverErrors <= errorBudget,
  );
  const unfinished = Object.entries(load.endStatuses).filter(
    ([status]) => !TERMINAL_STATUSES.includes(status),
  );
  const notTerminal = unfinished.reduce((n, [, k]) => n + k, 0);
  const ended = Object.values(load.endStatuses).reduce((n, k) => n + k, 0);
  gate(
    "accepted orders not terminal at the end",
    `${notTerminal}${notTerminal > 0 ? ` ${JSON.stringify(Object.fromEntries(unfinished))}` : ""} of ${ended}`,
    `0 (terminal: ${TERMINAL_STATUSES.join(", ")}; every accepted order checked)`,
    notTerminal === 0 && ended === load.accepted,
  );
  gate(
    "samples after warm-up",
    String(warm.length),
    `>= ${MIN_SAMPLES_AFTER_WARMUP}`,
    warm.length >= MIN_SAMPLES_AFTER_WARMUP,
  );

  add(
    "Redis transient families (MEMORY USAGE)",
    points((s) => s.transientBytes),
    TRANSIENT_DRIFT_LIMIT,
  );
  budget(
    "Redis transient families (MEMORY USAGE)",
    points((s) => s.transientBytes),
    TRANSIENT_BUDGET_BYTES_PER_DAY,
  );
  add(
    "Redis system of record (MEMORY USAGE)",
    points((s) => s.recordBytes),
    undefined,
  );
  add(
    "Redis used_memory",
    points((s) => s.usedMemory),
    undefined,
  );
  const transientKeys = (s: Sample) =>
    KEY_FAMILIES.filter((f) => f.role === "transient").reduce(
      (n, f) => n + (s.families.get(f.pattern)?.keys ?? 0),
      0,
    );
  add("transient keys", points(transientKeys), TRANSIENT_KEYS_DRIFT_LIMIT, "keys", "thirds");

  // Every process probed at the start, alive and the same process in every sample, read throughout.
  const labels = [...new Set(samples.flatMap((s) => [...s.processes.keys()]))];
  for (const label of labels) {
    const gone = samples.filter((s) => s.processes.get(label)?.alive !== true);
    gate(
      `${label} alive, never restarted`,
      gone.length === 0 ? "every sample" : `gone or restarted at t=${gone[0]!.t.toFixed(0)} s`,
      "every sample",
      gone.length === 0,
    );
    const lapsed = samples.filter((s) => s.processes.get(label)?.registered === false);
    gate(
      `${label} registered throughout`,
      lapsed.length === 0 ? "every sample" : `not registered at t=${lapsed[0]!.t.toFixed(0)} s`,
      "every sample",
      lapsed.length === 0,
    );
    const missing = warm.filter((s) => s.processes.get(label)?.heapUsedBytes === undefined).length;
    gate(
      `${label} heap readings`,
      `missing in ${missing} of ${warm.length} samples after warm-up`,
      `<= ${Math.floor(MISSING_HEAP_SHARE * warm.length)} (${MISSING_HEAP_SHARE * 100}%)`,
      missing <= Math.floor(MISSING_HEAP_SHARE * warm.length),
    );
    add(
      `${label} heap used`,
      points((s) => s.processes.get(label)?.heapUsedBytes),
      HEAP_DRIFT_LIMIT,
      "MB",
      config.forcedGc ? "thirds" : "half",
    );
    budget(
      `${label} heap used`,
      points((s) => s.processes.get(label)?.heapUsedBytes),
      HEAP_BUDGET_BYTES_PER_DAY,
    );
  }
  for (const label of labels) {
    const rss = points((s) => {
      const v = s.processes.get(label)?.rssBytes;
      return v === undefined || v === 0 ? undefined : v;
    });
    add(`${label} RSS`, rss, undefined);
    const rise = floorRise(rss, config.warmupSeconds, end);
    gate(
      `${label} RSS floor`,
      `rose ${pct(rise)} (last third after warm-up against the first)`,
      `<= ${pct(RSS_FLOOR_RISE_LIMIT)}`,
      rise <= RSS_FLOOR_RISE_LIMIT,
    );
  }

  // Bytes and keys per order of the system of record, each family against its documented bound.
  const first = warm[0];
  const last = samples[samples.length - 1];
  const orders = first && last ? last.orders - first.orders : 0;
  gate("orders placed after warm-up", String(orders), "> 0", orders > 0);
  const perOrder = (pick: (s: Sample) => number) =>
    first && last && orders > 0 ? (pick(last) - pick(first)) / orders : 0;
  const bytesPerOrderByFamily = KEY_FAMILIES.filter((f) => f.role === "record")
    .map((f) => ({ pattern: f.pattern, bytes: perOrder((s) => s.families.get(f.pattern)?.bytes ?? 0) }))
    .filter((f) => Math.abs(f.bytes) >= 1);
  for (const f of KEY_FAMILIES) {
    const bound = f.perOrder;
    if (!bound) continue;
    if (f.role === "record") {
      // Orders accepted before the first sample may write their records after it (in flight then):
      // the growth may cover FAMILY_ALLOWANCE_ORDERS orders more than were counted. And the first
      // sample's scan ran while orders arrived: it may have missed the keys of orders placed after
      // it began, up to `orders` (read after it) less `ordersAtScanStart`.
      const missedByFirstScan = first ? first.orders - (first.ordersAtScanStart ?? first.orders) : 0;
      // A family written when the saga ends (`{payment}:outcome`, kept since break34 F2) grows with
      // the orders that ended, not those placed: a slow run's sagas end in bursts (break-11 F7).
      const ended = (s: Sample) => s.orders - s.inFlight;
      const counted =
        bound.counts === "ended" ? (first && last ? Math.max(0, ended(last) - ended(first)) : 0) : orders;
      const per = (pick: (s: Sample) => number) =>
        first && last && counted > 0 ? (pick(last) - pick(first)) / counted : 0;
      const within = (perOrderValue: number, limit: number) =>
        perOrderValue * counted <= limit * (counted + missedByFirstScan + FAMILY_ALLOWANCE_ORDERS);
      const allowance = `(+${FAMILY_ALLOWANCE_ORDERS} orders in flight${missedByFirstScan > 0 ? `, +${missedByFirstScan} placed during the first scan` : ""})`;
      for (const [what, limit, digits] of [
        ["bytes", bound.bytes, 0],
        ["keys", bound.keys, 2],
      ] as const) {
        if (limit === undefined) continue;
        const value = per((s) => s.families.get(f.pattern)?.[what] ?? 0);
        gate(
          `\`${f.pattern}\` ${what} per order${bound.counts === "ended" ? " ended" : ""}`,
          value.toFixed(digits),
          `<= ${limit} ${allowance}`,
          within(value, limit),
        );
      }
      continue;
    }
    const window = config.windowSeconds + config.slackSeconds;
    for (const [what, per, held] of [
      ["keys", bound.keys, (s: Sample) => s.families.get(f.pattern)?.keys ?? 0],
      ["entries", bound.entries, (s: Sample) => s.families.get(f.pattern)?.entries ?? 0],
    ] as const) {
      if (per === undefined) continue;
      // The sample where the family is fullest against its bound.
      let worst = { held: 0, limit: Number.POSITIVE_INFINITY, t: 0 };
      const counted = bound.counts === "ended" ? endedWithin : ordersWithin;
      for (const s of samples) {
        const streams = what === "entries" ? (s.families.get(f.pattern)?.keys ?? 0) : 0;
        const limit =
          per * (counted(samples, s.t, window) * (1 + FAMILY_MARGIN) + FAMILY_ALLOWANCE_ORDERS) +
          STREAM_NODE_ENTRIES * streams;
        if (held(s) / limit > worst.held / worst.limit) worst = { held: held(s), limit, t: s.t };
      }
      gate(
        `\`${f.pattern}\` ${what} held`,
        `${worst.held} at t=${worst.t.toFixed(0)} s`,
        `<= ${Math.round(worst.limit)} (${per} per order ${bound.counts === "ended" ? "ended" : "placed"} in the last ${window.toFixed(0)} s, +${FAMILY_MARGIN * 100}%, +${FAMILY_ALLOWANCE_ORDERS} orders${what === "entries" ? `, +${STREAM_NODE_ENTRIES} per stream` : ""})`,
        worst.held <= worst.limit,
      );
    }
  }

  const problems = [...new Set(samples.flatMap((s) => s.problems))].slice(0, 20);
  const failures = [
    ...gates.filter((g) => !g.ok).map((g) => `${g.rule}: ${g.measured} (limit ${g.limit})`),
    ...problems,
  ];
  return {
    series,
    gates,
    bytesPerOrder: Math.round(perOrder((s) => s.recordBytes)),
    bytesPerOrderByFamily,
    problems,
    failures,
    passed: failures.length === 0,
  };
}

export function renderSoakReport(samples: readonly Sample[], config: SoakConfig, a: SoakAnalysis): string {
  const labels = [...new Set(samples.flatMap((s) => [...s.processes.keys()]))];
  const sampleRows = samples.map((s) =>
    [
      (s.t / 60).toFixed(1),
      s.orders.toLocaleString("en-US"),
      s.inFlight,
      mb(s.usedMemory),
      mb(s.transientBytes),
      mb(s.recordBytes),
      ...labels.map((l) => {
        const p = s.processes.get(l);
        if (!p?.alive) return "gone";
        return `${p.heapUsedBytes === undefined ? "?" : mb(p.heapUsedBytes)} / ${mb(p.rssBytes)}`;
      }),
    ].join(" | "),
  );
  const seriesRows = a.series.map((s) => {
    const scale = s.unit === "MB" ? MB : 1;
    const verdict = s.ok === undefined ? "reported" : s.ok ? "flat" : "**GROWING**";
    return `| ${s.name} | ${(s.slopePerMin / scale).toFixed(s.unit === "MB" ? 3 : 1)} ${s.unit}/min | ${(s.drift * 100).toFixed(1)}% | ${verdict} |`;
  });
  const env = Object.entries(config.env)
    .map(([k, v]) => `\`${k}=${v}\``)
    .join(", ");
  return `## Soak: ${config.minutes} minutes at ${config.rate} orders/s

Produced by \`${config.command}\` on ${config.date}. Machine: ${config.machine}.
Every service its own process over a private Redis (AOF \`everysec\`); one sample every
${config.sampleSeconds} s. The transient windows are shortened so that the steady state is reached
inside the run (${env}); at the defaults the same bounds hold at rate × window. Slopes are fitted
after the warm-up (${(config.warmupSeconds / 60).toFixed(1)} min); drift is the fitted rise over the
last half of the run relative to its mean (limits: transient Redis memory ${TRANSIENT_DRIFT_LIMIT * 100}%;
transient keys ${TRANSIENT_KEYS_DRIFT_LIMIT * 100}%, and only when their lowest count in the last third after
warm-up is also that much above the first third's; a heap ${HEAP_DRIFT_LIMIT * 100}%, and only when ${
    config.forcedGc
      ? "its lowest reading in the last third after warm-up is also that much above the first third's;\nheaps are read after a forced full collection (`--expose-gc`, bench/soak-gc-hook.mjs)"
      : "its floor in the last half is also that much above its floor between warm-up and half-time"
  }). Absolute budgets: the growth a slope establishes (slope − ${SLOPE_STANDARD_ERRORS} standard errors), projected over a
day, at most ${mb(TRANSIENT_BUDGET_BYTES_PER_DAY)} MB for transient Redis memory and ${mb(HEAP_BUDGET_BYTES_PER_DAY)} MB for each heap (judged when fitted
over the last half of the run, judged when that is at least ${BUDGET_MIN_SPAN_SECONDS / 60} min after warm-up).

bytes per order: ${a.bytesPerOrder}

**${a.passed ? "PASS" : "FAIL"}**: ${a.passed ? "the load held, every order ended, every process lived, transient memory, every heap and RSS flat, every key family within its bound" : `${a.failures.length} failed: ${a.failures.slice(0, 5).join("; ")}${a.failures.length > 5 ? "; ..." : ""}`}.

| gate | measured | limit | |
|---|---|---|---|
${a.gates.map((g) => `| ${cell(g.rule)} | ${cell(g.measured)} | ${cell(g.limit)} | ${g.ok ? "ok" : "**FAIL**"} |`).join("\n")}

| series | slope after warm-up | drift over last half | verdict |
|---|---:|---:|---|
${seriesRows.join("\n")}

System of record per order, by key family (MEMORY USAGE growth over the orders placed after warm-up):

| family | bytes per order |
|---|---:|
${a.bytesPerOrderByFamily.map((f) => `| \`${f.pattern}\` | ${Math.round(f.bytes)} |`).join("\n")}

Samples (heap used / RSS in MB per process):

| min | orders | in flight | used_memory MB | transient MB | record MB | ${labels.join(" | ")} |
|${["---:", "---:", "---:", "---:", "---:", "---:", ...labels.map(() => "---:")].join("|")}|
${sampleRows.map((r) => `| ${r} |`).join("\n")}
${a.problems.length > 0 ? `\nProblems seen:\n\n${a.problems.map((p) => `- ${p}`).join("\n")}\n` : ""}`;
}
