import { expect, it } from "vitest";
import { startTimeoutMs } from "./load-systems.js";

it("waits 3 minutes for the processes by default, BENCH_START_TIMEOUT_MS when set, and refuses nonsense", () => {
  expect(startTimeoutMs({})).toBe(180_000);
  expect(startTimeoutMs({ BENCH_START_TIMEOUT_MS: "300000" })).toBe(300_000);
  expect(() => startTimeoutMs({ BENCH_START_TIMEOUT_MS: "soon" })).toThrow(/BENCH_START_TIMEOUT_MS/);
  expect(() => startTimeoutMs({ BENCH_START_TIMEOUT_MS: "-1" })).toThrow(/positive integer/);
});
