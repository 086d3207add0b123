import { beforeAll, expect, it, vi } from "vitest";
import { redeliverStreamKey } from "../bus/transports/redis-stream-keys.js";
import { RedisStreamsTransport } from "../bus/transports/redis-streams.js";
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

  /** A queue over the Redis store and the Streams transport, as the gateway builds it. */
  const streamsQueue = () => {
    const transport = new RedisStreamsTransport({ redis: getRedis().client(), deadLetters: store });
    const queue = new DeadLetterQueue({
      store,
      redeliver: (group, message) => transport.redeliver(group, message),
      redeliverOnce: (group, replays) => transport.redeliverOnce(group, replays),
    });
    return { queue, transport };
  };

  it("concurrent retries of one record: each accepted retry sent once and audited once, the others refused (break13 F1)", async () => {
    await getRedis().flush();
    const { queue, transport } = streamsQueue();
    try {
      await store.add(sampleDeadLetter("a", 1));
      const answers = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => queue.retry("a", { actor: `op-${i}` })),
      );
      const accepted = answers.flatMap((a) => (a.status === "fulfilled" ? [a.value.retries] : []));
      const refused = answers.flatMap((a) =>
        a.status === "rejected" ? [a.reason as { code?: string }] : [],
      );
      const record = await store.get("a");
      // Every accepted answer names a distinct retry; together they are the record's count.
      expect(accepted.length).toBeGreaterThanOrEqual(1);
      expect(new Set(accepted).size).toBe(accepted.length);
      expect(record?.retries).toBe(accepted.length);
      expect((await store.audit("a")).filter((e) => e.action === "retried")).toHaveLength(accepted.length);
      expect(await getRedis().client().xlen(redeliverStreamKey("inventory"))).toBe(accepted.length);
      for (const reason of refused) expect(reason.code).toBe("DLQ_RETRY_CONFLICT");
      expect(accepted.length + refused.length).toBe(10);
    } finally {
      await transport.close();
    }
  });

  it("concurrent bulk retries of one record: one replay, one audit entry, the others report a conflict (break13 F1)", async () => {
    await getRedis().flush();
    const { queue, transport } = streamsQueue();
    try {
      await store.add(sampleDeadLetter("a", 1));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => queue.retryMany(["a", "a"], { actor: `op-${i}` })),
      );
      const retried = results.flatMap((r) => r.retried);
      const record = await store.get("a");
      expect(record?.retries).toBe(retried.length);
      expect((await store.audit("a")).filter((e) => e.action === "retried")).toHaveLength(retried.length);
      expect(await getRedis().client().xlen(redeliverStreamKey("inventory"))).toBe(retried.length);
      for (const failed of results.flatMap((r) => r.failed))
        expect(failed).toMatchObject({ id: "a", error: { code: "DLQ_RETRY_CONFLICT" } });
    } finally {
      await transport.close();
    }
  });
});
