import { afterEach, describe, expect, it, vi } from "vitest";
import { MemoryIdempotencyStore } from "./memory-store.js";
import { runIdempotencyStoreContract } from "./store-contract.js";
import { steppableWallClock } from "../../../test-support/wall-clock.js";

describe("in-memory idempotency store", () => {
  runIdempotencyStoreContract(async () => new MemoryIdempotencyStore());

  afterEach(() => {
    vi.restoreAllMocks();
  });

  // break22: in-process leases and TTLs are local durations; on the wall clock a forward step (NTP,
  // a VM resumed) ended every mark at once and a duplicate ran a second time.
  it("keeps a handled mark when the host's wall clock steps forward past its TTL", async () => {
    // The host's wall clock, stepped below (as libfaketime or NTP would move Date.now itself).
    const wallClock = steppableWallClock();
    const store = new MemoryIdempotencyStore();
    const claim = await store.claim("m-1", 60_000);
    if (claim.status !== "acquired") throw new Error(`claim: ${claim.status}`);
    await store.complete("m-1", claim.token, 3_600_000);
    wallClock.step(2 * 3_600_000);
    expect((await store.claim("m-1", 60_000)).status).toBe("processed");
  });
});
