import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  keptSecurityHistory,
  MESSAGES_PER_SEALED_FIELD,
  medianInterval,
  pairedCost,
  type SecurityResult,
  securityMarkdown,
  verdict,
} from "./bus-security.js";

describe("the signing cost's interval and verdict", () => {
  it("uses the order statistics that cover the median with at least 90%: min–max for 5 rounds, 2nd–8th for 9", () => {
    expect(medianInterval([5, 1, 4, 2, 3])).toEqual({ low: 1, high: 5, coverage: 93.8 });
    expect(medianInterval([9, 1, 8, 2, 7, 3, 6, 4, 5])).toEqual({ low: 2, high: 8, coverage: 96.1 });
    expect(medianInterval([4, 1, 13, 2, 12, 3, 11, 5, 10, 6, 9, 7, 8, 14, 15])).toEqual({
      low: 4,
      high: 12,
      coverage: 96.5,
    });
  });

  it("gives no interval for fewer than 5 rounds", () => {
    expect(medianInterval([1, 2, 3, 4])).toBeUndefined();
    expect(verdict(undefined, 10)).toMatch(/too few rounds/);
  });

  it("says below or not below only when the whole interval is on one side of the target", () => {
    expect(verdict({ low: 6.1, high: 9.9 }, 10)).toBe("below 10%");
    expect(verdict({ low: 10, high: 14 }, 10)).toBe("not below 10%");
    expect(verdict({ low: 9, high: 13 }, 10)).toMatch(/undecided/);
  });
});

describe("the security report", () => {
  /** `rounds` runs of a setting costing `cost` (a fraction) more CPU and as much less throughput. */
  const runs = (label: string, cost: number, rounds = 9) => ({
    label,
    runs: Array.from({ length: rounds }, (_, r) => ({
      label,
      messages: 1_000,
      seconds: 1,
      // A drifting machine: every setting of a round moves together, so the paired cost stays put.
      perSecond: Math.round((30_000 + r * 1_000) / (1 + cost)),
      cpuMicros: (30 + r) * (1 + cost),
      latency: { count: 1_000, p50: 1, p99: 3, max: 4 },
    })),
  });
  const result = (mixed: number): SecurityResult => ({
    settings: [runs("clear", 0), runs("signed", 0.05), runs("mixed", mixed), runs("sealed", 0.4)],
    rounds: 9,
    messages: 1_000,
    signMicros: { median: 1.5, min: 1.4, max: 1.6 },
    microsPerMessage: { median: 12, min: 11, max: 13 },
    load: [0.5, 1],
    hmac: "native",
  });

  it("gives the cost and verdict of signing + verifying and of encryption at the system's mix, each paired per round", () => {
    const text = securityMarkdown(result(0.07));
    expect(text).toContain("HMAC-SHA256 computed with: native"); // which path was measured (newuser19 F3)
    expect(text).toContain(
      `in one message of every ${MESSAGES_PER_SEALED_FIELD} the field sealed\nas the system seals a payment token`,
    );
    expect(text).toContain("| mixed |");
    expect(pairedCost(result(0.07), 2).cpu.median).toBeCloseTo(7, 1);
    const verdicts = text
      .split("\n")
      .filter((line) => line.includes("interval of the median") && line.includes("**"));
    expect(verdicts).toHaveLength(2);
    expect(verdicts[0]).toMatch(
      /throughput cost 4\.8–4\.8%: \*\*below 10%\*\*.*CPU cost 5–5%: \*\*below 10%\*\*/,
    );
    expect(verdicts[1]).toMatch(
      /throughput cost 6\.5–6\.5%: \*\*below 10%\*\*.*CPU cost 7–7%: \*\*below 10%\*\*/,
    );
  });

  it("says so when encryption at the system's mix is not below the target though signing alone is", () => {
    const verdicts = securityMarkdown(result(0.12))
      .split("\n")
      .filter((line) => line.includes("interval of the median") && line.includes("**"));
    expect(verdicts[0]).toMatch(/below 10%/);
    expect(verdicts[1]).toMatch(/CPU cost 12–12%: \*\*not below 10%\*\*/);
  });
});

describe("the security bench's BUS_NATIVE_HMAC", () => {
  it("refuses a bad value in one line before measuring anything, as the services do (newuser19 F3)", () => {
    const run = spawnSync("npx", ["tsx", "bench/bus-security.ts", "1", "10"], {
      env: { ...process.env, BUS_NATIVE_HMAC: "maybe" },
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toMatch(/^bench: Invalid configuration: BUS_NATIVE_HMAC: must be 0 or false/);
    expect(run.stdout).toBe("");
  }, 90_000);
});

describe("the hand-recorded security history in BENCHMARKS.md", () => {
  it("is found between its markers, so a full `npm run bench` keeps it (it rewrote the file and dropped it)", () => {
    const file = readFileSync(new URL("../BENCHMARKS.md", import.meta.url), "utf8");
    const kept = keptSecurityHistory(file);
    expect(kept).toMatch(/^<!-- security-history:start -->\n/);
    expect(kept).toMatch(/<!-- security-history:end -->$/);
    // The sessions' records of issue 12's measure are inside it.
    expect(kept).toContain("#### Session 19 (2026-12-02)");
    expect(kept).toContain("#### The native HMAC (session 18");
    expect(keptSecurityHistory("# Benchmarks\nno markers\n")).toBeUndefined();
  });
});
