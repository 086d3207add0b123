import { describe, expect, it } from "vitest";
import { exponentialBackoff } from "./backoff.js";

describe("exponentialBackoff", () => {
  it("grows by factor from baseMs without jitter, starting at attempt 1", () => {
    const delay = exponentialBackoff({ baseMs: 100, factor: 2, jitter: "none" });
    expect([1, 2, 3, 4].map(delay)).toEqual([100, 200, 400, 800]);
  });

  it("caps every delay at maxMs, even for huge attempt numbers", () => {
    const delay = exponentialBackoff({ baseMs: 100, maxMs: 1_000, jitter: "none" });
    expect(delay(5)).toBe(1_000);
    expect(delay(5_000)).toBe(1_000);
  });

  it("full jitter draws between 0 and the capped delay", () => {
    const low = exponentialBackoff({ baseMs: 100, jitter: "full", random: () => 0 });
    const mid = exponentialBackoff({ baseMs: 100, jitter: "full", random: () => 0.5 });
    const high = exponentialBackoff({ baseMs: 100, jitter: "full", random: () => 0.999 });
    expect(low(3)).toBe(0);
    expect(mid(3)).toBe(200);
    expect(high(3)).toBe(399);
  });

  it("equal jitter keeps at least half the delay", () => {
    const low = exponentialBackoff({ baseMs: 100, jitter: "equal", random: () => 0 });
    const high = exponentialBackoff({ baseMs: 100, jitter: "equal", random: () => 0.999 });
    expect(low(3)).toBe(200);
    expect(high(3)).toBe(399);
  });

  it("defaults to full jitter with base 100ms and factor 2", () => {
    const delay = exponentialBackoff({ random: () => 0.5 });
    expect(delay(1)).toBe(50);
    expect(delay(2)).toBe(100);
  });

  it("rejects attempts below 1 and inconsistent options", () => {
    const delay = exponentialBackoff();
    expect(() => delay(0)).toThrow(RangeError);
    expect(() => exponentialBackoff({ baseMs: 500, maxMs: 100 })).toThrow(RangeError);
    expect(() => exponentialBackoff({ factor: 0.5 })).toThrow(RangeError);
  });
});
