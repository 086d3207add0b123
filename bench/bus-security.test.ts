import { describe, expect, it } from "vitest";
import { medianInterval, verdict } from "./bus-security.js";

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
