import { describe, expect, it } from "vitest";
import { analyse, type SoakConfig } from "./soak-report.js";
import type { Sample } from "./soak-sampler.js";

const config: SoakConfig = {
  minutes: 4,
  rate: 10,
  sampleSeconds: 20,
  warmupSeconds: 40,
  env: {},
  command: "npm run soak",
  machine: "test",
  date: "2026-01-01",
};

/**
 * Samples every 20 s over 4 minutes with orders growing, the given heap (MB) and count of
 * `{user}:validated:<orderId>` keys (a transient family) per time (s).
 */
function run(heapMb: (t: number) => number, marks: (t: number) => number = () => 2_000): Sample[] {
  return Array.from({ length: 13 }, (_, i) => {
    const t = i * 20;
    return {
      t,
      orders: t * 10,
      inFlight: 0,
      usedMemory: 1e6 + t * 1e4,
      transientBytes: 5e5,
      recordBytes: t * 1e4,
      families: new Map([["{user}:validated:<orderId>", { keys: marks(t), bytes: 0, entries: 0 }]]),
      processes: new Map([["order", { rssBytes: 1e8, heapUsedBytes: heapMb(t) * 2 ** 20 }]]),
      problems: [],
    };
  });
}

const heapVerdict = (samples: Sample[]) =>
  analyse(samples, config).series.find((s) => s.name === "order heap used");

describe("soak verdict on heaps", () => {
  it("passes a garbage collector's sawtooth, whose floor stays put, even when the last samples sit high", () => {
    const sawtooth = (t: number) => (t >= 200 ? 40 + (t - 200) / 2 : 20 + (t % 80) / 4);
    const verdict = heapVerdict(run(sawtooth));
    expect(verdict?.drift).toBeGreaterThan(0.1);
    expect(verdict?.ok).toBe(true);
  });

  it("fails a heap whose floor keeps rising", () => {
    const leak = (t: number) => 20 + t / 4 + (t % 40 === 0 ? 0 : 2);
    const analysis = analyse(run(leak), config);
    expect(analysis.series.find((s) => s.name === "order heap used")?.ok).toBe(false);
    expect(analysis.passed).toBe(false);
  });
});

describe("soak verdict on transient keys", () => {
  const keysVerdict = (samples: Sample[]) => {
    const analysis = analyse(samples, config);
    return { series: analysis.series.find((s) => s.name === "transient keys"), passed: analysis.passed };
  };
  const flatHeap = () => 20;

  it("fails a transient family that keeps growing (marks without their TTL)", () => {
    const verdict = keysVerdict(run(flatHeap, (t) => 2_000 + t * 10));
    expect(verdict.series?.ok).toBe(false);
    expect(verdict.passed).toBe(false);
  });

  it("passes a count that wobbles with the load on a busy machine, even when the last samples sit high", () => {
    // rate × window with the rate dipping and recovering by up to 15%, highest at the end.
    const wobble = [0, -0.15, 0.05, -0.1, 0.1, -0.05, 0, -0.15, 0.05, -0.1, 0.1, 0.12, 0.15];
    const verdict = keysVerdict(run(flatHeap, (t) => 2_000 * (1 + wobble[t / 20]!)));
    expect(verdict.series?.ok).toBe(true);
    expect(verdict.passed).toBe(true);
  });
});
