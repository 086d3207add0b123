/**
 * What a soak run's samples say: slopes after warm-up, drift over the last half, bytes per order of
 * the system of record, and the verdict; rendered as the Markdown section of BENCHMARKS.md.
 */
import { KEY_FAMILIES } from "../src/system/key-families.js";
import type { Sample } from "./soak-sampler.js";
import { drift, type Point, since, slope } from "./soak-stats.js";

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

export interface SoakConfig {
  minutes: number;
  rate: number;
  sampleSeconds: number;
  warmupSeconds: number;
  /** Heaps were read after a forced full collection (bench/soak-gc-hook.mjs). */
  forcedGc?: boolean;
  /** The environment the services ran with (the shortened windows). */
  env: Record<string, string>;
  command: string;
  machine: string;
  date: string;
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

export interface SoakAnalysis {
  series: SeriesVerdict[];
  bytesPerOrder: number;
  bytesPerOrderByFamily: { pattern: string; bytes: number }[];
  problems: string[];
  passed: boolean;
}

const MB = 1024 * 1024;
const mb = (n: number) => (n / MB).toFixed(1);

export function analyse(samples: readonly Sample[], config: SoakConfig): SoakAnalysis {
  const half = (config.minutes * 60) / 2;
  const warm = samples.filter((s) => s.t >= config.warmupSeconds);
  const series: SeriesVerdict[] = [];
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
    series.push({
      name,
      slopePerMin: slope(since(points, config.warmupSeconds)) * 60,
      drift: d,
      unit,
      ok: limit === undefined ? undefined : d <= limit || !floorRose,
    });
  };
  const points = (pick: (s: Sample) => number | undefined): Point[] =>
    samples.flatMap((s) => {
      const v = pick(s);
      return v === undefined ? [] : [{ t: s.t, v }];
    });
  add(
    "Redis transient families (MEMORY USAGE)",
    points((s) => s.transientBytes),
    TRANSIENT_DRIFT_LIMIT,
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
  const labels = [...(samples[0]?.processes.keys() ?? [])];
  for (const label of labels) {
    add(
      `${label} heap used`,
      points((s) => s.processes.get(label)?.heapUsedBytes),
      HEAP_DRIFT_LIMIT,
      "MB",
      config.forcedGc ? "thirds" : "half",
    );
  }
  for (const label of labels)
    add(
      `${label} RSS`,
      points((s) => s.processes.get(label)?.rssBytes),
      undefined,
    );

  const first = warm[0];
  const last = samples[samples.length - 1];
  const orders = first && last ? last.orders - first.orders : 0;
  const perOrder = (pick: (s: Sample) => number) =>
    first && last && orders > 0 ? (pick(last) - pick(first)) / orders : 0;
  const bytesPerOrderByFamily = KEY_FAMILIES.filter((f) => f.role === "record")
    .map((f) => ({ pattern: f.pattern, bytes: perOrder((s) => s.families.get(f.pattern)?.bytes ?? 0) }))
    .filter((f) => Math.abs(f.bytes) >= 1);
  const problems = [...new Set(samples.flatMap((s) => s.problems))].slice(0, 20);
  return {
    series,
    bytesPerOrder: Math.round(perOrder((s) => s.recordBytes)),
    bytesPerOrderByFamily,
    problems,
    passed: orders > 0 && series.every((s) => s.ok !== false) && problems.length === 0,
  };
}

export function renderSoakReport(samples: readonly Sample[], config: SoakConfig, a: SoakAnalysis): string {
  const labels = [...(samples[0]?.processes.keys() ?? [])];
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
        return `${p?.heapUsedBytes === undefined ? "?" : mb(p.heapUsedBytes)} / ${mb(p?.rssBytes ?? 0)}`;
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
  }).

bytes per order: ${a.bytesPerOrder}

**${a.passed ? "PASS" : "FAIL"}**: ${a.passed ? "transient memory and every heap flat" : "see the rows marked GROWING and the problems below"}.

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
