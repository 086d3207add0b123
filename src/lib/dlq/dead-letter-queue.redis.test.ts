import { beforeAll, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { DeadLetterQueue, type Redeliver } from "./dead-letter-queue.js";
import { RedisDeadLetterStore } from "./redis-dead-letter-store.js";
import { sampleDeadLetter } from "./store-contract.js";

describeWithRedis("DeadLetterQueue on Redis", (getRedis) => {
  let store: RedisDeadLetterStore;
  beforeAll(() => {
    store = new RedisDeadLetterStore(getRedis().client());
  });

  it("retries, archives and purges with the whole history kept in Redis", async () => {
    await getRedis().flush();
    const now = Date.parse("2025-01-01T13:00:00.000Z");
    const redeliver = vi.fn<Redeliver>(async () => {});
    const queue = new DeadLetterQueue({ store, redeliver, now: () => now });
    await store.add(sampleDeadLetter("a", 1));
    await store.add(sampleDeadLetter("b", 2));
    await store.appendAudit({
      at: "2025-01-01T12:01:00.000Z",
      recordId: "a",
      action: "dead-lettered",
      actor: "inventory-1",
    });

    await queue.retry("a", { actor: "alice" });
    await queue.archive("b", { actor: "bob" });
    await expect(queue.retry("b", { actor: "alice" })).rejects.toMatchObject({ code: "DLQ_ARCHIVED" });

    const { record, audit } = await queue.inspect("a");
    expect(record).toMatchObject({ status: "retried", retries: 1 });
    expect(record.attempts).toHaveLength(2);
    expect(audit.map((e) => `${e.action}:${e.actor}`)).toEqual([
      "dead-lettered:inventory-1",
      "retried:alice",
    ]);
    expect(redeliver).toHaveBeenCalledWith("inventory", {
      topic: "order.created",
      owner: "order",
      id: "env-a",
      body: sampleDeadLetter("a", 1).body,
    });

    expect(await queue.purge({ maxAgeMs: 0, status: "archived" }, { actor: "janitor" })).toEqual({
      purged: ["b"],
    });
    expect((await queue.list()).map((r) => r.id)).toEqual(["a"]);
    expect((await store.audit("b")).map((e) => e.action)).toEqual(["archived", "purged"]);
  });
});
