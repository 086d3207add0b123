/**
 * The host's wall clock as NTP or a VM resume moves it: `Date.now` replaced by the real one plus an
 * offset a test steps (`performance.now`, the monotonic source, is left alone, as a real step
 * leaves CLOCK_MONOTONIC). Install it before the code under test captures `Date.now`; undo with
 * `vi.restoreAllMocks()`.
 */
import { vi } from "vitest";

export const TEN_MINUTES_MS = 600_000;

export function steppableWallClock(): { step(ms: number): void } {
  const wall = Date.now.bind(Date);
  let offset = 0;
  vi.spyOn(Date, "now").mockImplementation(() => wall() + offset);
  return {
    step: (ms) => {
      offset += ms;
    },
  };
}
