import { afterEach, expect, it, vi } from "vitest";
import { waitFor } from "../../test-support/wait.js";
import { MemoryCarrierLedger } from "./carrier.js";

afterEach(() => {
  vi.restoreAllMocks();
});

it("an in-flight booking's lease ends after leaseMs even when the wall clock stepped back (break22)", async () => {
  const wall = Date.now.bind(Date);
  let offset = 0;
  vi.spyOn(Date, "now").mockImplementation(() => wall() + offset);
  const ledger = new MemoryCarrierLedger();
  expect(await ledger.beginCall("o-1", 50)).toBe(true);
  offset = -600_000;
  await waitFor(async () => !(await ledger.inFlight("o-1")), 2_000, "the 50 ms lease to end");
});
