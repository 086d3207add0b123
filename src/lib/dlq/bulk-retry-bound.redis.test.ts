/**
 * Review 2 of issue 10, finding 4, on a real Redis: a bulk retry by filter (no `to`) snapshots its
 * upper bound when it starts. Replays that fail again at once are dead-lettered as new records
 * while the run goes on; the run leaves them for the next one instead of retrying its own new
 * failures again and again, also when the run is several calls, each going on with the last one's
 * cursor (break17 F7: one call retries at most `limit` records).
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { DeadLetterQueue } from "./dead-letter-queue.js";
import type { DeadLetterRecord } from "./dead-letter-store.js";
import { RedisDeadLetterStore } from "./redis-dead-letter-store.js";
import { sampleDeadLetter } from "./store-contract.js";

const ORIGINAL = 120;

describeWithRedis("DLQ bulk retry bound", (getRedis) => {
  it("retries the records there when it started, not the failures its own replays add", async () => {
    await getRedis().flush();
    const store = new RedisDeadLetterStore(getRedis().client());
    const originals = Array.from({ length: ORIGINAL }, (_, i) =>
      sampleDeadLetter(`orig-${String(i).padStart(4, "0")}`, i % 60),
    );
    for (const record of originals) await store.add(record);
    let refailed = 0;
    const dlq = new DeadLetterQueue({
      store,
      batchSize: 25,
      // Each replay fails again at once and is dead-lettered anew (now, a new delivery id), up to a
      // cap that only keeps a run that would not stop finite.
      redeliver: async (group, message) => {
        if (refailed >= 5 * ORIGINAL) return;
        refailed++;
        const again: DeadLetterRecord = {
          ...sampleDeadLetter(`again-${refailed}-${message.id}`, 0, { group }),
          deadLetteredAt: new Date().toISOString(),
        };
        await store.add(again);
      },
    });
    // A run of several calls (30 records each, break17 F7), each going on with the last one's cursor.
    const result = { retried: [] as string[], failed: [] as unknown[] };
    let cursor: string | undefined;
    let calls = 0;
    do {
      const share = await dlq.retryMany(
        { group: "inventory", limit: 30, ...(cursor ? { cursor } : {}) },
        { actor: "ops" },
      );
      result.retried.push(...share.retried);
      result.failed.push(...share.failed);
      cursor = share.nextCursor;
      calls++;
    } while (cursor !== undefined);
    expect(calls).toBe(ORIGINAL / 30);
    expect(result.failed).toEqual([]);
    expect([...result.retried].sort()).toEqual(originals.map((r) => r.id).sort());
    expect(refailed).toBe(ORIGINAL);
    // The new failures wait, dead, for the next run.
    const dead = await store.list({ status: "dead" });
    expect(dead).toHaveLength(ORIGINAL);
    expect(dead.every((r) => r.id.startsWith("again-"))).toBe(true);
  });
});
