import { describe, expect, it } from "vitest";
import { drift, slope, slopeStdError } from "./soak-stats.js";

describe("soak statistics", () => {
  it("fits the slope of a line exactly, and of a flat series as zero", () => {
    expect(slope([0, 60, 120].map((t) => ({ t, v: 100 + 2 * t })))).toBeCloseTo(2);
    expect(slope([0, 60, 120].map((t) => ({ t, v: 7 })))).toBe(0);
  });

  it("reports drift as the fitted rise over the window relative to the mean", () => {
    // 100 → 110 over the window, mean 105: about 9.5%.
    expect(drift([0, 30, 60].map((t) => ({ t, v: 100 + t / 6 })))).toBeCloseTo(10 / 105);
    expect(drift([0, 30, 60].map((t) => ({ t, v: t % 60 === 0 ? 100 : 101 })))).toBe(0);
  });

  it("measures the slope's standard error: 0 on a line, larger the more the points scatter", () => {
    expect(slopeStdError([0, 60, 120, 180].map((t) => ({ t, v: 100 + 2 * t })))).toBeCloseTo(0);
    const scatter = (amplitude: number) =>
      slopeStdError(
        [0, 60, 120, 180, 240].map((t, i) => ({ t, v: 100 + (i % 2 === 0 ? amplitude : -amplitude) })),
      );
    expect(scatter(1)).toBeGreaterThan(0);
    expect(scatter(10)).toBeCloseTo(10 * scatter(1));
    expect(
      slopeStdError([
        { t: 0, v: 1 },
        { t: 60, v: 2 },
      ]),
    ).toBe(Number.POSITIVE_INFINITY);
  });
});
