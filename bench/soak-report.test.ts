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

/** Samples every 20 s over 4 minutes with orders growing and the given heap (MB) per time (s). */
function run(heapMb: (t: number) => number): Sample[] {
  return Array.from({ length: 13 }, (_, i) => {
    const t = i * 20;
    return {
      t,
      orders: t * 10,
      inFlight: 0,
      usedMemory: 1e6 + t * 1e4,
      transientBytes: 5e5,
      recordBytes: t * 1e4,
      families: new Map(),
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
