/**
 * The soak's sampling interval (break-11 F4): `npm run soak -- --minutes 2 --rate 20` sampled once a
 * minute left 2 samples after its 40 s warm-up, and the verdict needs 3, so it could never pass.
 * Without `--sample-seconds` it now samples often enough; an explicit interval too coarse is refused
 * before anything starts.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { defaultSampleSeconds, MIN_SAMPLES_AFTER_WARMUP, samplesAfterWarmup } from "./soak-report.js";

/** bench/soak.ts's warm-up: two transient windows of a sixth of the run (15 s to 10 min each). */
const warmupOf = (durationSec: number) => 2 * Math.min(600, Math.max(15, durationSec / 6));

describe("soak sampling interval", () => {
  it("counts the samples at or after warm-up (one at t = 0, then every interval to the end)", () => {
    expect(samplesAfterWarmup(120, 40, 60)).toBe(2);
    expect(samplesAfterWarmup(120, 40, 10)).toBe(9);
    expect(samplesAfterWarmup(1800, 600, 60)).toBe(21);
  });

  it("leaves at least the verdict's samples after warm-up for every run length from 1 minute", () => {
    for (const minutes of [1, 1.5, 2, 2.5, 3, 5, 10, 30, 120]) {
      const duration = minutes * 60;
      const seconds = defaultSampleSeconds(duration, warmupOf(duration));
      expect(seconds, `${minutes} min`).toBeDefined();
      expect(samplesAfterWarmup(duration, warmupOf(duration), seconds!)).toBeGreaterThanOrEqual(
        MIN_SAMPLES_AFTER_WARMUP,
      );
    }
    // A minute a sample from 3 minutes on; 2 minutes samples every 40 s.
    expect(defaultSampleSeconds(180, warmupOf(180))).toBe(60);
    expect(defaultSampleSeconds(1800, warmupOf(1800))).toBe(60);
    expect(defaultSampleSeconds(120, warmupOf(120))).toBe(40);
    // No interval helps a run no longer than its warm-up.
    expect(defaultSampleSeconds(30, warmupOf(30))).toBeUndefined();
  });

  it("refuses `--minutes 2 --sample-seconds 60` at the start, saying what to use", async () => {
    const soak = fileURLToPath(new URL("./soak.ts", import.meta.url));
    const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(tsx, [soak, "--minutes", "2", "--rate", "20", "--sample-seconds", "60"], {
        timeout: 120_000,
      });
      let stderr = "";
      child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      child.on("exit", (exitCode) => resolve({ code: exitCode, stderr }));
    });
    expect(code).toBe(2);
    expect(stderr).toContain("leaves 2 samples after warm-up: the verdict needs 3");
    expect(stderr).toContain("--sample-seconds 40 or less");
  }, 120_000);
});
