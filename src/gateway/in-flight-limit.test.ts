import { describe, expect, it } from "vitest";
import { TimeoutError } from "../lib/resilience/errors.js";
import { InFlightLimit } from "./in-flight-limit.js";

describe("InFlightLimit", () => {
  it("hands a released place to the oldest waiter still within budget, skipping those that ran out", async () => {
    const limit = new InFlightLimit(1);
    expect(limit.tryAcquire()).toBe(true);
    expect(limit.tryAcquire()).toBe(false);
    const expired = limit.wait(10);
    const live = limit.wait(10_000);
    await expect(expired).rejects.toBeInstanceOf(TimeoutError);
    limit.release();
    await live;
    expect(limit.inFlight).toBe(1);
    limit.release();
    expect(limit.inFlight).toBe(0);
    expect(limit.tryAcquire()).toBe(true);
  });
});
