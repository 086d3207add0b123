import { describe, expect, it } from "vitest";
import { Permits } from "./redis-streams-support.js";

describe("Permits", () => {
  it("a waiter that loses the race for a freed permit keeps waiting instead of getting none", async () => {
    const permits = new Permits(1);
    expect(permits.tryTake(1)).toBe(1);
    const got: number[] = [];
    const waiters = [permits.take(1), permits.take(1)].map((p) => p.then((n) => got.push(n)));
    permits.release(1);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([1]);
    permits.release(1);
    await Promise.all(waiters);
    expect(got).toEqual([1, 1]);
  });

  it("gives waiters nothing once closed", async () => {
    const permits = new Permits(0);
    const waiting = permits.take(1);
    permits.close();
    expect(await waiting).toBe(0);
  });
});
