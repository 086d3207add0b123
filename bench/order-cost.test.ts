import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import type { CompletionResult } from "./load-completion.js";
import {
  beforeSustainedFrom,
  COST_TARGETS,
  cpuSecondsBetween,
  type Figures,
  fixedRateCostLine,
  formatLastLines,
  latencyRate,
  loadLine,
  highestSustained,
  nextRate,
  orderCost,
  parseProcStat,
  processTree,
  sustained,
} from "./order-cost.js";

const stats = { count: 0, p50: 0, p99: 0, max: 0 };

function run(overrides: Partial<CompletionResult> = {}): CompletionResult {
  return {
    label: "t",
    rate: 100,
    offered: 500,
    sent: 500,
    accepted: 500,
    completedPerSec: 100,
    completed: 500,
    incomplete: 0,
    failures: 0,
    httpFailures: {},
    placedToShipped: stats,
    sentToShipped: stats,
    accept: stats,
    ...overrides,
  };
}

describe("parseProcStat", () => {
  it("reads pid, ppid and utime + stime, even when the command name holds spaces and parentheses", () => {
    const line =
      "4242 (node (my app) x) S 4200 4242 4242 0 -1 4194304 100 0 0 0 350 75 0 0 20 0 11 0 1234 0 0";
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 4200, ticks: 425 });
  });

  it("refuses text that is not a stat line", () => {
    expect(parseProcStat("")).toBeUndefined();
    expect(parseProcStat("12 (x) S 1 2")).toBeUndefined();
  });
});

describe("processTree", () => {
  it("gives the roots and every descendant, not the other processes", () => {
    const all = [
      { pid: 1, ppid: 0, ticks: 9 },
      { pid: 10, ppid: 1, ticks: 1 },
      { pid: 11, ppid: 10, ticks: 2 },
      { pid: 12, ppid: 11, ticks: 3 },
      { pid: 20, ppid: 1, ticks: 4 },
      { pid: 30, ppid: 0, ticks: 5 },
    ];
    expect(
      processTree(all, [10, 30])
        .map((s) => s.pid)
        .sort((a, b) => a - b),
    ).toEqual([10, 11, 12, 30]);
  });
});

describe("cpuSecondsBetween", () => {
  it("sums each process's ticks used in between, counting a process started in between from zero", () => {
    const before = [
      { pid: 1, ppid: 0, ticks: 100 },
      { pid: 2, ppid: 1, ticks: 50 },
    ];
    const after = [
      { pid: 1, ppid: 0, ticks: 250 },
      { pid: 2, ppid: 1, ticks: 60 },
      { pid: 3, ppid: 1, ticks: 40 },
    ];
    expect(cpuSecondsBetween(before, after, 100)).toBeCloseTo(2.0, 10);
  });
});

describe("orderCost", () => {
  it("divides CPU per completed order by CPU per raw message", () => {
    // 3 s of CPU for 1,000 orders = 3 ms per order; 1.5 s for 30,000 messages = 50 µs per message.
    const cost = orderCost({
      orderCpuSeconds: 3,
      completedOrders: 1_000,
      rawCpuSeconds: 1.5,
      rawMessages: 30_000,
    });
    expect(cost.orderCpuMs).toBeCloseTo(3, 10);
    expect(cost.rawCpuMicros).toBeCloseTo(50, 10);
    expect(cost.units).toBeCloseTo(60, 10);
  });

  it("refuses inputs that give no number (no orders, no messages, no raw CPU)", () => {
    const ok = { orderCpuSeconds: 1, completedOrders: 1, rawCpuSeconds: 1, rawMessages: 1 };
    expect(() => orderCost({ ...ok, completedOrders: 0 })).toThrow(RangeError);
    expect(() => orderCost({ ...ok, rawMessages: 0 })).toThrow(RangeError);
    expect(() => orderCost({ ...ok, rawCpuSeconds: 0 })).toThrow(RangeError);
  });
});

describe("sustained", () => {
  it("is true when everything offered was sent, accepted and shipped in time, nothing failed", () => {
    expect(sustained(run())).toBe(true);
  });

  it("is false for a failure, an order left incomplete, unsent load or shipping that fell behind", () => {
    expect(sustained(run({ failures: 1 }))).toBe(false);
    expect(sustained(run({ incomplete: 1, completed: 499 }))).toBe(false);
    expect(sustained(run({ sent: 499 }))).toBe(false);
    expect(sustained(run({ completed: 494 }))).toBe(false);
    // Everything shipped, but mostly after the load ended (drained from a backlog).
    expect(sustained(run({ completedPerSec: 94 }))).toBe(false);
    expect(sustained(run({ completedPerSec: 95 }))).toBe(true);
  });
});

describe("the rate search", () => {
  const search = { first: 25, factor: 1.5, max: 1_000 };

  it("starts at the first rate, grows by the factor while sustained, stops at the first miss", () => {
    expect(nextRate([], search)).toBe(25);
    expect(nextRate([{ rate: 25, sustained: true }], search)).toBe(40);
    expect(nextRate([{ rate: 400, sustained: true }], search)).toBe(600);
    expect(
      nextRate(
        [
          { rate: 25, sustained: true },
          { rate: 40, sustained: false },
        ],
        search,
      ),
    ).toBeUndefined();
  });

  it("bisects between the highest sustained and the lowest unsustained rate, as many times as asked", () => {
    const refined = { ...search, refine: 2, minGap: 10 };
    const tried = [
      { rate: 25, sustained: true },
      { rate: 40, sustained: true },
      { rate: 60, sustained: true },
      { rate: 90, sustained: true },
      { rate: 140, sustained: false },
    ];
    expect(nextRate(tried, refined)).toBe(115);
    expect(nextRate([...tried, { rate: 115, sustained: true }], refined)).toBe(130);
    expect(nextRate([...tried, { rate: 115, sustained: false }], refined)).toBe(105);
    expect(
      nextRate([...tried, { rate: 115, sustained: true }, { rate: 130, sustained: false }], refined),
    ).toBeUndefined();
    // Without refine, the search still ends at the first unsustained rate.
    expect(nextRate(tried, search)).toBeUndefined();
  });

  it("does not bisect when the two rates are close", () => {
    const refined = { ...search, refine: 2, minGap: 10 };
    expect(
      nextRate(
        [
          { rate: 25, sustained: true },
          { rate: 35, sustained: false },
        ],
        refined,
      ),
    ).toBeUndefined();
  });

  it("halves the rate, down to the floor, when not even the first one was sustained", () => {
    const refined = { ...search, refine: 2, minGap: 10 };
    expect(nextRate([{ rate: 25, sustained: false }], refined)).toBe(15);
    expect(
      nextRate(
        [
          { rate: 25, sustained: false },
          { rate: 15, sustained: false },
        ],
        refined,
      ),
    ).toBe(10);
    expect(
      nextRate(
        [
          { rate: 25, sustained: false },
          { rate: 15, sustained: true },
        ],
        refined,
      ),
    ).toBeUndefined(); // 15 and 25 are only minGap apart
    expect(
      nextRate(
        [
          { rate: 25, sustained: false },
          { rate: 15, sustained: true },
        ],
        { ...refined, minGap: 5 },
      ),
    ).toBe(20);
    expect(nextRate([{ rate: 15, sustained: false }], { ...refined, floor: 10 })).toBe(10);
    expect(nextRate([{ rate: 10, sustained: false }], refined)).toBeUndefined();
    expect(nextRate([{ rate: 25, sustained: false }], search)).toBeUndefined();
  });

  it("stops past the ceiling", () => {
    expect(nextRate([{ rate: 800, sustained: true }], search)).toBeUndefined();
  });

  it("takes the highest sustained rate, none when none was", () => {
    const runs = [run({ rate: 25 }), run({ rate: 40, completedPerSec: 40 }), run({ rate: 60, failures: 2 })];
    expect(highestSustained(runs)?.rate).toBe(40);
    expect(highestSustained([run({ failures: 1 })])).toBeUndefined();
  });
});

describe("beforeSustainedFrom", () => {
  it("reads the recorded before figure, none when absent", () => {
    expect(beforeSustainedFrom("text\n<!-- before-sustained: 230 -->\nmore")).toBe(230);
    expect(beforeSustainedFrom("# Benchmarks")).toBeUndefined();
  });

  it("finds the before figure BENCHMARKS.md records for the quick run's speed-up target", () => {
    const markdown = readFileSync(new URL("../BENCHMARKS.md", import.meta.url), "utf8");
    expect(beforeSustainedFrom(markdown)).toBeGreaterThan(0);
  });
});

describe("formatLastLines", () => {
  const figures: Figures = {
    cost: { orderCpuMs: 3, rawCpuMicros: 80.6, units: 37.2134 },
    costRate: 340,
    sustainedPerSec: 340,
    beforePerSec: 150,
    halfRate: 170,
    p99Ms: 41.26,
    gatewayPerSec: 812,
    minimalPerSec: 2030,
  };

  it("prints the order cost first in the contract form, then each figure with its target", () => {
    expect(formatLastLines(figures)).toEqual([
      "order cost: 37.2 raw-message units (target <= 40)",
      'sustained orders/s over Redis: 340 (target >= 750, 5x the "before" 150, the quick run of main before issue 14\'s work on a quiet machine, in BENCHMARKS.md)',
      "p99 placement → shipped at 170 orders/s: 41.3 ms (target <= 50 ms)",
      "accepted POST /orders over Redis: 40.0% of a minimal fastify + zod + XADD server (812 vs 2030 req/s) (target >= 40%)",
    ]);
  });

  it("says what was not measured, and where the cost was taken when no rate was sustained", () => {
    const lines = formatLastLines({
      ...figures,
      costRate: 25,
      sustainedPerSec: 0,
      beforePerSec: undefined,
      halfRate: undefined,
      p99Ms: undefined,
      minimalPerSec: 0,
    });
    expect(lines[0]).toBe("order cost: 37.2 raw-message units (target <= 40)");
    expect(lines[1]).toBe(
      'sustained orders/s over Redis: 0 (target 5x the "before" figure, none recorded in BENCHMARKS.md); no rate sustained, order cost taken at 25 orders/s',
    );
    expect(lines[2]).toBe(
      "p99 placement → shipped at half the sustained rate: not measured (target <= 50 ms)",
    );
    expect(lines[3]).toMatch(/^accepted POST \/orders over Redis: 0\.0% of a minimal/);
    expect(formatLastLines({ ...figures, cost: undefined, costRate: undefined })[0]).toBe(
      "order cost: not measured, no rate was sustained (target <= 40)",
    );
  });
});

describe("latencyRate", () => {
  it("is half the sustained rate, rounded, from a sustained 20 up", () => {
    expect(latencyRate(90)).toEqual({ rate: 45, label: "half rate 45 orders/s" });
    expect(latencyRate(25)).toEqual({ rate: 13, label: "half rate 13 orders/s" });
    expect(latencyRate(20)).toEqual({ rate: 10, label: "half rate 10 orders/s" });
  });

  it("says the rate is not half when the floor of 10 applies (new-user bench finding 6)", () => {
    expect(latencyRate(10)).toEqual({
      rate: 10,
      label: "at 10 orders/s (the lowest rate tried; not half the sustained 10)",
    });
    expect(latencyRate(15).label).toBe("at 10 orders/s (the lowest rate tried; not half the sustained 15)");
  });
});

describe("fixedRateCostLine", () => {
  // 60 µs of CPU per raw message.
  const raw = { cpuSeconds: 1.8, messages: 30_000 };
  const runs = [
    { rate: 25, completed: 125, cpuSeconds: 4.6375 },
    { rate: 40, completed: 200, cpuSeconds: 5.34 },
    { rate: 60, completed: 300, cpuSeconds: 5.34 },
  ];

  it("gives CPU per order and raw-message units at the fixed rate, not at the sustained one (new-user bench finding 3)", () => {
    expect(fixedRateCostLine(runs, raw, 25, 60)).toBe(
      "cost at 25 orders/s (a rate every run measures; compare runs here): 37.10 ms CPU per order, 618.3 raw-message units; the order cost below is at 60 orders/s",
    );
  });

  it("does not repeat where the headline cost is when it is the same rate", () => {
    expect(fixedRateCostLine(runs.slice(0, 1), raw, 25, 25)).toBe(
      "cost at 25 orders/s (a rate every run measures; compare runs here): 37.10 ms CPU per order, 618.3 raw-message units",
    );
  });

  it("says so when that rate was not measured or completed nothing", () => {
    const missing =
      "cost at 25 orders/s (a rate every run measures; compare runs here): not measured (no order completed at that rate)";
    expect(fixedRateCostLine(runs.slice(1), raw, 25, 60)).toBe(missing);
    expect(fixedRateCostLine([{ rate: 25, completed: 0, cpuSeconds: 3 }], raw, 25, undefined)).toBe(missing);
  });
});

describe("loadLine (new-user finding F4: the quick run states the machine's load)", () => {
  it("gives the 1-minute load average and says the machine was loaded when it exceeds the cores", () => {
    expect(loadLine("start", 22.43, 2)).toBe(
      "load average at start: 22.4 on 2 cores (loaded: other work shared the CPUs, rates and latencies are low and noisy)",
    );
    expect(loadLine("start", 1.5, 2)).toBe("load average at start: 1.5 on 2 cores");
  });
  it("does not call the machine loaded at the end, where the run's own processes make the load", () => {
    expect(loadLine("end", 3.4, 2)).toBe(
      "load average at end: 3.4 on 2 cores (this run's own processes included)",
    );
  });
});

describe("the README's Benchmarks section (newuser10 F7)", () => {
  it("names the targets the quick run checks, not others", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Benchmarks"), readme.indexOf("## License"));
    expect(section).toContain(`order cost ≤ ${COST_TARGETS.units} raw-message units`);
    expect(section).toContain(`≥ ${COST_TARGETS.speedup}× the "before" figure`);
    expect(section).toContain(`≤ ${COST_TARGETS.p99Ms} ms at\nhalf the sustained rate`);
    expect(section).toContain(`≥ ${COST_TARGETS.acceptedSharePct}% of a minimal`);
    expect(section).not.toContain("15,000 orders accepted/s");
  });
});
