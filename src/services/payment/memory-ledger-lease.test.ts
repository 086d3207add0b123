import { afterEach, expect, it, vi } from "vitest";
import { steppableWallClock, TEN_MINUTES_MS } from "../../test-support/wall-clock.js";
import { waitFor } from "../../test-support/wait.js";
import { MemoryProviderLedger } from "./provider.js";

afterEach(() => vi.restoreAllMocks());

it("an in-flight call's lease ends after leaseMs even when the wall clock stepped back (break22)", async () => {
  const wall = steppableWallClock();
  const ledger = new MemoryProviderLedger();
  expect(await ledger.beginCall("charge", "o-1", 50)).toBe(true);
  wall.step(-TEN_MINUTES_MS);
  await waitFor(async () => !(await ledger.inFlight("charge", "o-1")), 2_000, "the 50 ms lease to end");
});
