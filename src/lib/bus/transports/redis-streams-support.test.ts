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

  it("gives the next freed permit to a priority taker (idle claim) before a reader that waited longer", async () => {
    const permits = new Permits(1);
    expect(permits.tryTake(1)).toBe(1);
    const got: string[] = [];
    // As the read loop: wait for a free permit, then take what is free.
    const reader = permits.waitForFree().then(() => {
      if (permits.tryTake(1) > 0) got.push("reader");
    });
    const claim = permits.takeFirst(1).then((n) => got.push(`claim ${n}`));
    permits.release(1);
    await claim;
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(["claim 1"]);
    permits.release(1);
    await reader;
    expect(got).toEqual(["claim 1", "reader"]);
  });

  it("gives waiters nothing once closed", async () => {
    const permits = new Permits(0);
    const waiting = permits.take(1);
    permits.close();
    expect(await waiting).toBe(0);
  });
});
