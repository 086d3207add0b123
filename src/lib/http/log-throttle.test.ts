import { afterEach, expect, it, vi } from "vitest";
import { steppableWallClock, TEN_MINUTES_MS } from "../../test-support/wall-clock.js";
import { waitFor } from "../../test-support/wait.js";
import { LogThrottle } from "./log-throttle.js";

afterEach(() => vi.restoreAllMocks());

it("admits a line again after its interval when the wall clock stepped back meanwhile (break22)", async () => {
  const wall = steppableWallClock();
  const throttle = new LogThrottle(50);
  expect(throttle.admit("SERVICE_UNAVAILABLE:order")).toBe(0);
  expect(throttle.admit("SERVICE_UNAVAILABLE:order")).toBeUndefined();
  wall.step(-TEN_MINUTES_MS);
  // Not muted for the length of the step: admitted after the 50 ms, counting the lines it skipped.
  const skipped = await waitFor(() => throttle.admit("SERVICE_UNAVAILABLE:order"), 2_000, "the next line");
  expect(skipped).toBeGreaterThanOrEqual(1);
});
