import { expect, it } from "vitest";
import { BenchBuildError, ensureBuild, startTimeoutMs } from "./load-systems.js";

it("waits 3 minutes for the processes by default, BENCH_START_TIMEOUT_MS when set, and refuses nonsense", () => {
  expect(startTimeoutMs({})).toBe(180_000);
  expect(startTimeoutMs({ BENCH_START_TIMEOUT_MS: "300000" })).toBe(300_000);
  expect(() => startTimeoutMs({ BENCH_START_TIMEOUT_MS: "soon" })).toThrow(/BENCH_START_TIMEOUT_MS/);
  expect(() => startTimeoutMs({ BENCH_START_TIMEOUT_MS: "-1" })).toThrow(/positive integer/);
});

it("a build that fails is a BenchBuildError saying what to do, not a bare stack (new-user finding 8)", () => {
  let builds = 0;
  const failing = () => {
    builds++;
    return { status: 2 };
  };
  // An entry point with no compiled file: the build is needed, and fails.
  expect(() => ensureBuild(["src/no-such-service/main.ts"], failing)).toThrow(BenchBuildError);
  expect(() => ensureBuild(["src/no-such-service/main.ts"], failing)).toThrow(
    /npm run build failed \(exit 2\); its errors are above\. Fix them, or run the benchmark from the sources with BENCH_FROM_SOURCE=1/,
  );
  expect(builds).toBe(2);
});
