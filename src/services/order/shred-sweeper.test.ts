import { describe, expect, it } from "vitest";
import { ShredSweeper } from "./shred-sweeper.js";
import { MemoryShredIntents } from "./store.js";

/** Intents ended at the given times (epoch ms), written as the terminal append writes them. */
function intentsOf(endedAt: Record<string, number>): MemoryShredIntents {
  const intents = new MemoryShredIntents();
  intents.applyInline(
    new Map(Object.entries(endedAt).map(([id, at]) => [id, { position: "0-0", value: { endedAt: at } }])),
  );
  return intents;
}

describe("ShredSweeper", () => {
  it("keeps an intent whose delete failed, and removes it only after a delete succeeded", async () => {
    const intents = intentsOf({ o1: 1_000 });
    const calls: string[] = [];
    let fail = true;
    const sweeper = new ShredSweeper({
      intents,
      shred: async (orderId) => {
        calls.push(`del ${orderId}`);
        if (fail) throw new Error("NOPERM");
      },
      onShredded: () => calls.push("shredded"),
      now: () => 2_000,
      graceMs: 0,
      onError: () => calls.push("error"),
    });
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(await intents.due(2_000, 10)).toEqual(["o1"]);
    fail = false;
    expect(await sweeper.sweepOnce()).toBe(1);
    expect(await intents.due(2_000, 10)).toEqual([]);
    expect(calls).toEqual(["del o1", "error", "del o1", "shredded"]);
  });

  it("takes intents only after the grace, oldest first, a bounded batch per pass", async () => {
    const intents = intentsOf({ a: 100, b: 300, c: 200, late: 1_950 });
    const deleted: string[] = [];
    const sweeper = new ShredSweeper({
      intents,
      shred: async (orderId) => void deleted.push(orderId),
      now: () => 2_000,
      graceMs: 100,
      batchSize: 2,
    });
    expect(await sweeper.sweepOnce()).toBe(2);
    expect(deleted).toEqual(["a", "c"]);
    expect(await sweeper.sweepOnce()).toBe(1);
    expect(await sweeper.sweepOnce()).toBe(0);
    expect(deleted).toEqual(["a", "c", "b"]);
    expect(await intents.due(Number.MAX_SAFE_INTEGER, 10)).toEqual(["late"]);
  });
});
