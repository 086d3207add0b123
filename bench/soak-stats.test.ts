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

  it("does not let one stray high reading hide a steady rise (readings of a 160 KB/s leak under load)", () => {
    // Heap readings (bytes) every 2 s of a process leaking 160 KB/s, one read at 12 s far too high:
    // the least-squares line over the last half fell, hiding the leak; Theil–Sen rises with it.
    const readings = [
      7880440, 7874840, 8325264, 8617224, 9415424, 9368992, 15820832, 10211336, 10633760, 11034568, 11108120,
    ];
    const lastHalf = readings.map((v, i) => ({ t: i * 2, v })).filter((p) => p.t >= 10);
    expect(slope(lastHalf)).toBeLessThan(0);
    expect(drift(lastHalf)).toBeGreaterThan(0.1);
    const steady = [
      8031624, 7904760, 7894648, 7987848, 7631920, 8273408, 8077808, 8310216, 7775456, 8135880, 8161216,
    ];
    expect(Math.abs(drift(steady.map((v, i) => ({ t: i * 2, v })).filter((p) => p.t >= 10)))).toBeLessThan(
      0.1,
    );
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
