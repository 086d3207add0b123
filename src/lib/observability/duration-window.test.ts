import { describe, expect, it } from "vitest";
import { DurationWindow, percentile } from "./duration-window.js";

describe("percentile", () => {
  it("uses the nearest rank of an ascending list", () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile([7], 0.99)).toBe(7);
    expect(percentile([], 0.5)).toBe(0);
  });
});

describe("DurationWindow", () => {
  it("summarises exactly while under capacity", () => {
    const window = new DurationWindow(10, () => 0);
    for (const ms of [30, 10, 20]) window.add(ms);
    expect(window.count).toBe(3);
    expect(window.summary()).toEqual({ p50: 20, p99: 30, max: 30 });
  });

  it("keeps memory bounded past capacity while count and max stay exact", () => {
    const window = new DurationWindow(2, () => 0.99);
    for (const ms of [5, 6, 1_000, 7]) window.add(ms);
    expect(window.count).toBe(4);
    // random 0.99 → slot ≥ capacity: later values are not sampled, but the max is tracked.
    expect(window.summary()).toEqual({ p50: 5, p99: 6, max: 1_000 });
  });

  it("replaces a sampled value when the draw lands inside the reservoir", () => {
    const window = new DurationWindow(2, () => 0);
    for (const ms of [5, 6, 9]) window.add(ms);
    expect(window.summary()).toEqual({ p50: 6, p99: 9, max: 9 });
  });

  it("treats negative or non-finite durations as zero", () => {
    const window = new DurationWindow(4, () => 0);
    window.add(-3);
    window.add(Number.NaN);
    expect(window.summary()).toEqual({ p50: 0, p99: 0, max: 0 });
  });
});
