/**
 * The soak's absolute budgets (break-11 F3): a leak that stays under the relative drift limits for
 * a whole run (a heap growing 2.5 KB/s, transient Redis memory 0.25 KB/s: the reviewer's synthetic
 * 30-minute series) fails on the growth its slope projects over a day; the real healthy 30-minute
 * run of 2026-11-29 (its samples, from BENCHMARKS.md) still passes.
 */
import { describe, expect, it } from "vitest";
import {
  analyse,
  BUDGET_MIN_SPAN_SECONDS,
  HEAP_BUDGET_BYTES_PER_DAY,
  type SoakConfig,
  type SoakLoad,
  TRANSIENT_BUDGET_BYTES_PER_DAY,
} from "./soak-report.js";
import type { ProcessMemory, Sample } from "./soak-sampler.js";

const MB = 2 ** 20;
const thirtyMinutes = (rate: number, forcedGc: boolean): SoakConfig => ({
  minutes: 30,
  rate,
  sampleSeconds: 60,
  warmupSeconds: 600,
  windowSeconds: 300,
  slackSeconds: 30,
  forcedGc,
  env: {},
  command: "npm run soak",
  machine: "test",
  date: "2026-01-01",
});
const loadOf = (orders: number): SoakLoad => ({
  offered: orders,
  sent: orders,
  accepted: orders,
  failures: {},
  endStatuses: { delivered: orders },
});

/** The reviewer's shape (b11/soak-verdict.b11.test.ts): 30 minutes at 10 orders/s, one sample a minute. */
function synthetic(
  heapMb: (t: number) => number,
  rssMb: (t: number) => number,
  transient: (t: number) => number,
): Sample[] {
  return Array.from({ length: 31 }, (_, i) => {
    const t = i * 60;
    const orders = t * 10;
    const p: ProcessMemory = {
      alive: true,
      registered: true,
      rssBytes: rssMb(t) * MB,
      heapUsedBytes: heapMb(t) * MB,
    };
    return {
      t,
      orders,
      inFlight: 0,
      usedMemory: 1e6 + t * 1e4,
      transientBytes: transient(t),
      recordBytes: t * 1e4,
      families: new Map([
        ["{user}:validated:<orderId>", { keys: Math.min(t, 300) * 10, bytes: 0, entries: 0 }],
        ["{order}:es:s:order-<orderId>", { keys: orders, bytes: orders * 5_600, entries: 0 }],
      ]),
      processes: new Map([["order", p]]),
      problems: [],
    };
  });
}

const failedRules = (samples: Sample[], config: SoakConfig, load: SoakLoad) =>
  analyse(samples, config, load)
    .gates.filter((g) => !g.ok)
    .map((g) => g.rule);

describe("soak budgets: growth projected over a day", () => {
  const config = thirtyMinutes(10, true);
  const load = loadOf(30 * 60 * 10);

  it("fails a heap growing 2.5 KB/s for ever (216 MB a day), though it drifts under 10%", () => {
    const leak = (t: number) => (2.5 * 1024 * t) / MB;
    const samples = synthetic(
      (t) => 20 + leak(t),
      (t) => 100 + leak(t),
      () => 5 * MB,
    );
    const analysis = analyse(samples, config, load);
    // The relative rule alone passes it (the finding): the budget is what fails it.
    expect(analysis.series.find((s) => s.name === "order heap used")?.ok).toBe(true);
    expect(failedRules(samples, config, load)).toEqual(["order heap used growth over a day"]);
    expect(analysis.passed).toBe(false);
  });

  it("fails transient Redis memory growing 0.25 KB/s for ever (21 MB a day), though it drifts under 5%", () => {
    const samples = synthetic(
      () => 20,
      () => 100,
      (t) => 5 * MB + 0.25 * 1024 * t,
    );
    const analysis = analyse(samples, config, load);
    expect(analysis.series.find((s) => s.name === "Redis transient families (MEMORY USAGE)")?.ok).toBe(true);
    expect(failedRules(samples, config, load)).toEqual([
      "Redis transient families (MEMORY USAGE) growth over a day",
    ]);
  });

  it("passes growth under the budgets (a heap 0.5 KB/s, transient memory 0.05 KB/s)", () => {
    expect(0.5 * 1024 * 86_400).toBeLessThan(HEAP_BUDGET_BYTES_PER_DAY);
    expect(0.05 * 1024 * 86_400).toBeLessThan(TRANSIENT_BUDGET_BYTES_PER_DAY);
    const samples = synthetic(
      (t) => 20 + (0.5 * 1024 * t) / MB,
      () => 100,
      (t) => 5 * MB + 0.05 * 1024 * t,
    );
    expect(failedRules(samples, config, load)).toEqual([]);
  });

  it("does not judge a run too short to tell a leak from the processes settling (the CI slice)", () => {
    const short: SoakConfig = {
      ...config,
      minutes: 2,
      sampleSeconds: 10,
      warmupSeconds: 40,
      windowSeconds: 20,
    };
    expect(short.minutes * 60 - short.warmupSeconds).toBeLessThan(BUDGET_MIN_SPAN_SECONDS);
    // A heap settling steeply (36 KB/s) over the 80 s after warm-up: far over the budget, not judged.
    const samples = synthetic(
      (t) => 20 + (6 * 1024 * t) / MB,
      () => 100,
      () => 5 * MB,
    )
      .slice(0, 13)
      .map((sample, i) => ({ ...sample, t: i * 10, orders: i * 100 }));
    const analysis = analyse(samples, short, loadOf(1200));
    const gate = analysis.gates.find((g) => g.rule === "order heap used growth over a day");
    expect(gate?.ok).toBe(true);
    expect(gate?.limit).toMatch(/^not judged/);
  });
});

/**
 * The healthy 30-minute run in BENCHMARKS.md (2026-11-29, 20 orders/s, heaps read without a forced
 * collection): minute, orders, transient MB, heap used MB and RSS MB of user, inventory, payment,
 * shipping, notification, order, gateway.
 */
const HEALTHY_RUN: [number, number, number, number[], number[]][] = [
  [
    0.0,
    0,
    0.0,
    [25.6, 26.8, 24.0, 26.1, 26.5, 32.9, 29.6],
    [123.8, 125.3, 124.2, 124.2, 122.1, 126.7, 159.1],
  ],
  [
    1.0,
    1_212,
    9.1,
    [20.8, 25.9, 27.6, 21.1, 24.8, 27.5, 28.2],
    [104.4, 139.9, 166.0, 97.7, 145.8, 167.0, 136.5],
  ],
  [
    2.0,
    2_417,
    17.8,
    [20.7, 22.1, 21.2, 22.6, 23.3, 26.9, 25.5],
    [126.4, 135.3, 126.7, 127.7, 136.1, 147.6, 103.9],
  ],
  [
    3.0,
    3_646,
    26.9,
    [22.6, 21.9, 21.5, 22.6, 22.7, 28.0, 28.2],
    [129.1, 135.2, 129.7, 129.5, 146.1, 147.9, 108.4],
  ],
  [
    4.0,
    4_822,
    35.3,
    [21.0, 22.1, 22.4, 22.6, 24.3, 30.3, 27.4],
    [129.6, 134.7, 131.2, 130.4, 137.1, 163.5, 112.8],
  ],
  [
    5.0,
    6_033,
    44.1,
    [21.6, 21.3, 21.6, 21.0, 24.6, 35.9, 27.7],
    [130.4, 134.7, 131.2, 131.5, 136.0, 170.7, 113.0],
  ],
  [
    6.0,
    7_238,
    44.6,
    [20.8, 21.8, 22.8, 21.8, 24.6, 34.1, 29.8],
    [130.7, 127.0, 131.5, 131.8, 134.1, 157.5, 111.0],
  ],
  [
    7.0,
    8_420,
    44.3,
    [21.2, 21.6, 21.5, 21.3, 26.0, 35.4, 27.2],
    [130.9, 129.4, 131.3, 132.1, 134.2, 186.0, 111.5],
  ],
  [
    8.0,
    9_638,
    44.6,
    [21.9, 22.9, 21.3, 21.3, 25.9, 37.0, 27.6],
    [130.7, 130.9, 131.5, 119.9, 134.4, 151.2, 111.9],
  ],
  [
    9.0,
    10_837,
    44.5,
    [21.4, 22.0, 21.3, 22.8, 24.3, 33.4, 29.7],
    [131.2, 131.2, 131.3, 127.5, 128.2, 150.8, 113.6],
  ],
  [
    10.0,
    12_018,
    44.3,
    [21.8, 24.8, 21.2, 22.5, 26.1, 36.0, 32.3],
    [131.4, 131.8, 131.7, 128.8, 129.1, 163.8, 112.3],
  ],
  [
    11.0,
    13_298,
    45.2,
    [21.3, 21.5, 21.7, 22.6, 23.8, 40.2, 27.2],
    [131.7, 131.8, 131.9, 129.9, 130.8, 207.6, 116.8],
  ],
  [
    12.0,
    14_439,
    44.5,
    [23.1, 21.8, 21.8, 22.4, 23.5, 37.4, 27.1],
    [132.5, 131.8, 131.9, 129.9, 131.1, 219.9, 116.9],
  ],
  [
    13.0,
    15_635,
    44.5,
    [21.1, 22.6, 22.0, 21.5, 23.6, 36.1, 26.6],
    [132.0, 132.1, 131.7, 130.7, 130.6, 164.3, 107.7],
  ],
  [
    14.0,
    16_828,
    44.4,
    [20.9, 21.4, 21.8, 22.3, 24.1, 31.8, 28.1],
    [132.0, 127.3, 132.0, 130.4, 131.1, 148.8, 109.5],
  ],
  [
    15.0,
    18_031,
    44.4,
    [21.4, 21.6, 21.4, 21.5, 26.4, 34.5, 26.8],
    [132.3, 128.1, 132.0, 131.0, 131.1, 151.9, 108.9],
  ],
  [
    16.0,
    19_242,
    44.6,
    [22.0, 22.6, 22.5, 22.5, 24.5, 32.8, 27.8],
    [131.8, 129.8, 132.4, 130.3, 131.8, 152.7, 110.3],
  ],
  [
    17.0,
    20_446,
    44.6,
    [23.1, 23.5, 22.8, 22.3, 27.2, 37.1, 30.0],
    [131.8, 130.2, 132.4, 131.0, 134.3, 151.4, 112.4],
  ],
  [
    18.0,
    21_640,
    44.6,
    [22.5, 21.6, 22.2, 21.9, 23.9, 36.6, 26.8],
    [132.0, 130.9, 132.7, 131.4, 131.9, 171.7, 112.7],
  ],
  [
    19.0,
    22_847,
    44.7,
    [21.5, 23.3, 22.1, 23.2, 24.2, 35.7, 28.6],
    [132.0, 131.0, 132.2, 130.7, 131.6, 178.5, 112.8],
  ],
  [
    20.0,
    24_085,
    45.1,
    [22.4, 22.0, 23.3, 21.6, 24.1, 34.9, 31.8],
    [132.6, 131.1, 132.5, 131.1, 131.8, 204.4, 112.4],
  ],
  [
    21.0,
    25_273,
    44.9,
    [21.3, 22.9, 21.8, 22.2, 26.6, 33.6, 26.8],
    [132.6, 131.4, 132.2, 131.3, 132.0, 220.3, 112.9],
  ],
  [
    22.0,
    26_458,
    44.8,
    [21.0, 25.0, 21.9, 23.4, 25.1, 38.2, 27.7],
    [131.8, 131.6, 132.0, 131.6, 132.8, 216.2, 114.9],
  ],
  [
    23.0,
    27_689,
    45.1,
    [22.1, 26.5, 21.3, 21.4, 24.5, 32.2, 29.7],
    [132.1, 131.8, 132.0, 131.6, 131.4, 160.5, 113.4],
  ],
  [
    24.0,
    28_844,
    44.6,
    [21.1, 21.8, 22.5, 22.5, 25.7, 32.6, 33.4],
    [132.3, 131.8, 132.3, 130.8, 132.2, 162.5, 113.4],
  ],
  [
    25.0,
    30_077,
    45.0,
    [21.9, 22.3, 22.4, 23.2, 25.6, 38.2, 26.9],
    [131.8, 131.3, 132.5, 131.5, 132.5, 196.5, 115.8],
  ],
  [
    26.0,
    31_281,
    45.0,
    [22.2, 23.9, 21.8, 21.8, 23.3, 34.3, 28.0],
    [131.8, 131.8, 132.0, 131.6, 132.1, 147.4, 115.0],
  ],
  [
    27.0,
    32_471,
    45.0,
    [22.0, 21.6, 22.4, 22.2, 26.9, 36.1, 30.5],
    [131.8, 131.7, 132.3, 131.6, 131.6, 201.4, 116.0],
  ],
  [
    28.0,
    33_657,
    44.8,
    [22.3, 22.4, 21.8, 22.5, 24.7, 35.2, 32.8],
    [131.8, 131.6, 132.5, 131.7, 111.2, 155.8, 114.9],
  ],
  [
    29.0,
    34_906,
    45.4,
    [22.0, 25.4, 21.7, 21.6, 25.9, 34.2, 26.8],
    [131.8, 132.2, 132.8, 131.2, 132.2, 152.4, 115.7],
  ],
  [
    30.0,
    36_000,
    44.1,
    [22.6, 21.6, 22.4, 21.5, 24.3, 40.4, 28.0],
    [133.6, 132.1, 132.5, 131.5, 134.8, 165.7, 113.1],
  ],
];
const LABELS = ["user", "inventory", "payment", "shipping", "notification", "order", "gateway"];

describe("soak budgets on the real healthy 30-minute run", () => {
  it("passes every budget and the whole verdict", () => {
    const samples: Sample[] = HEALTHY_RUN.map(([minute, orders, transientMb, heaps, rss]) => ({
      t: minute * 60,
      orders,
      inFlight: 0,
      usedMemory: 0,
      transientBytes: transientMb * MB,
      recordBytes: orders * 16_000,
      families: new Map(),
      processes: new Map(
        LABELS.map((label, i) => [
          label,
          { alive: true, registered: true, heapUsedBytes: heaps[i]! * MB, rssBytes: rss[i]! * MB },
        ]),
      ),
      problems: [],
    }));
    const analysis = analyse(samples, thirtyMinutes(20, false), loadOf(36_000));
    const budgets = analysis.gates.filter((g) => g.rule.endsWith("growth over a day"));
    expect(budgets).toHaveLength(1 + LABELS.length);
    // Judged (fitted over the last 15 minutes), not skipped.
    expect(budgets.filter((g) => g.limit.startsWith("not judged"))).toEqual([]);
    expect(budgets.filter((g) => !g.ok)).toEqual([]);
    expect(analysis.failures).toEqual([]);
  });
});
