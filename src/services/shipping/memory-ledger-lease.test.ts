import { afterEach, expect, it, vi } from "vitest";
import { steppableWallClock, TEN_MINUTES_MS } from "../../test-support/wall-clock.js";
import { waitFor } from "../../test-support/wait.js";
import { MemoryCarrierLedger } from "./carrier.js";

afterEach(() => vi.restoreAllMocks());

it("an in-flight booking's lease ends after leaseMs even when the wall clock stepped back (break22)", async () => {
  const wall = steppableWallClock();
  const ledger = new MemoryCarrierLedger();
  expect(await ledger.beginCall("o-1", 50)).toBe(true);
  wall.step(-TEN_MINUTES_MS);
  await waitFor(async () => !(await ledger.inFlight("o-1")), 2_000, "the 50 ms lease to end");
});
