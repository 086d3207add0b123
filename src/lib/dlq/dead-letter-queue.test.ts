import { beforeEach, describe, expect, it, vi } from "vitest";
import type { OutgoingMessage } from "../bus/transport.js";
import { DeadLetterQueue, type Redeliver } from "./dead-letter-queue.js";
import { MemoryDeadLetterStore } from "./memory-dead-letter-store.js";
import { sampleDeadLetter } from "./store-contract.js";

const NOW = Date.parse("2025-01-01T13:00:00.000Z");
const ops = { actor: "alice" };

describe("DeadLetterQueue", () => {
  let store: MemoryDeadLetterStore;
  let redeliver: ReturnType<typeof vi.fn<Redeliver>>;
  let queue: DeadLetterQueue;

  beforeEach(async () => {
    store = new MemoryDeadLetterStore();
    redeliver = vi.fn<Redeliver>(async () => {});
    queue = new DeadLetterQueue({ store, redeliver, now: () => NOW });
  });

  it("lists through the store's filters, newest first", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await store.add(sampleDeadLetter("b", 2, { group: "shipping" }));
    await store.add(sampleDeadLetter("c", 3));
    expect((await queue.list({ group: "inventory" })).map((r) => r.id)).toEqual(["c", "a"]);
  });

  it("inspects a record with its attempts and its audit trail", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await store.appendAudit({ at: "t0", recordId: "a", action: "dead-lettered", actor: "inventory-1" });
    await queue.retry("a", { actor: "alice", detail: "INC-42" });
    const { record, audit } = await queue.inspect("a");
    expect(record.attempts.map((a) => a.error.message)).toEqual(["boom", "still boom"]);
    expect(audit).toEqual([
      { at: "t0", recordId: "a", action: "dead-lettered", actor: "inventory-1" },
      { at: new Date(NOW).toISOString(), recordId: "a", action: "retried", actor: "alice", detail: "INC-42" },
    ]);
  });

  it("fails inspecting an unknown id with DLQ_NOT_FOUND", async () => {
    await expect(queue.inspect("nope")).rejects.toMatchObject({ code: "DLQ_NOT_FOUND", recordId: "nope" });
  });

  it("retries by re-delivering the exact body to the record's group only, and audits it", async () => {
    const record = sampleDeadLetter("a", 1, { group: "payment", body: '{"exact":"bytes" }' });
    await store.add(record);
    const retried = await queue.retry("a", ops);
    expect(redeliver).toHaveBeenCalledTimes(1);
    expect(redeliver).toHaveBeenCalledWith("payment", {
      topic: "order.created",
      owner: "order",
      id: "env-a",
      body: '{"exact":"bytes" }',
    } satisfies OutgoingMessage);
    expect(retried).toMatchObject({ status: "retried", retries: 1 });
    expect(await store.get("a")).toMatchObject({ status: "retried", retries: 1 });
    expect(await store.audit("a")).toEqual([
      { at: new Date(NOW).toISOString(), recordId: "a", action: "retried", actor: "alice" },
    ]);
  });

  it("uses the record id as message id when the body could not be decoded", async () => {
    const { envelopeId: _drop, ...rest } = sampleDeadLetter("raw", 1);
    await store.add({ ...rest, body: "not json" });
    await queue.retry("raw", ops);
    expect(redeliver.mock.calls[0]?.[1]).toMatchObject({ id: "raw", body: "not json" });
  });

  it("counts every retry of the same record", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await queue.retry("a", ops);
    await queue.retry("a", ops);
    expect(await store.get("a")).toMatchObject({ status: "retried", retries: 2 });
    expect(redeliver).toHaveBeenCalledTimes(2);
  });

  it("refuses to retry an archived record with DLQ_ARCHIVED and sends nothing", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await queue.archive("a", ops);
    await expect(queue.retry("a", ops)).rejects.toMatchObject({ code: "DLQ_ARCHIVED" });
    expect(redeliver).not.toHaveBeenCalled();
    expect(await store.get("a")).toMatchObject({ status: "archived", retries: 0 });
  });

  it("in memory too: concurrent retries of one record are one replay and one audit entry each accepted (break13 F1)", async () => {
    await store.add(sampleDeadLetter("a", 1));
    const sentIds = new Set<string>();
    const once = new DeadLetterQueue({
      store,
      redeliver,
      redeliverOnce: async (group, replays) => {
        const fresh = replays.filter((r) => !sentIds.has(r.replayId));
        for (const r of fresh) {
          sentIds.add(r.replayId);
          await redeliver(group, r.message);
        }
        return fresh.length;
      },
      now: () => NOW,
    });
    const answers = await Promise.allSettled(Array.from({ length: 5 }, () => once.retry("a", ops)));
    const accepted = answers.filter((a) => a.status === "fulfilled");
    expect(accepted).toHaveLength(1);
    for (const a of answers)
      if (a.status === "rejected") expect(a.reason).toMatchObject({ code: "DLQ_RETRY_CONFLICT" });
    expect(redeliver).toHaveBeenCalledTimes(1);
    expect(await store.get("a")).toMatchObject({ status: "retried", retries: 1 });
    expect(await store.audit("a")).toHaveLength(1);
  });

  it("a record archived while its replay was being sent is counted and audited, and stays archived", async () => {
    await store.add(sampleDeadLetter("a", 1));
    redeliver.mockImplementationOnce(async () => {
      await queue.archive("a", { actor: "bob" });
    });
    expect(await queue.retry("a", ops)).toMatchObject({ status: "archived", retries: 1 });
    expect(await store.get("a")).toMatchObject({ status: "archived", retries: 1 });
    expect((await store.audit("a")).map((e) => e.action)).toEqual(["archived", "retried"]);
    await expect(queue.retry("a", ops)).rejects.toMatchObject({ code: "DLQ_ARCHIVED" });
  });

  it("fails retrying an unknown id with DLQ_NOT_FOUND", async () => {
    await expect(queue.retry("nope", ops)).rejects.toMatchObject({ code: "DLQ_NOT_FOUND" });
  });

  it("leaves the record untouched and unaudited when redelivery fails", async () => {
    await store.add(sampleDeadLetter("a", 1));
    redeliver.mockRejectedValueOnce(new Error("broker down"));
    await expect(queue.retry("a", ops)).rejects.toMatchObject({
      code: "DLQ_REDELIVERY_FAILED",
      retryable: true,
    });
    expect(await store.get("a")).toMatchObject({ status: "dead", retries: 0 });
    expect(await store.audit("a")).toEqual([]);
  });

  it("retries many by id and reports each failure with its code", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await store.add(sampleDeadLetter("b", 2, { group: "flaky" }));
    await store.add(sampleDeadLetter("c", 3));
    await queue.archive("c", ops);
    redeliver.mockImplementation(async (group) => {
      if (group === "flaky") throw new Error("flaky group down");
    });
    const result = await queue.retryMany(["a", "b", "c", "nope"], ops);
    expect(result.retried).toEqual(["a"]);
    expect(result.failed.map((f) => [f.id, f.error.code])).toEqual([
      ["b", "DLQ_REDELIVERY_FAILED"],
      ["c", "DLQ_ARCHIVED"],
      ["nope", "DLQ_NOT_FOUND"],
    ]);
    expect(result.failed[0]?.error.message).toContain("flaky group down");
    expect(await store.get("b")).toMatchObject({ status: "dead", retries: 0 });
  });

  it("retries the dead records a filter matches, oldest first", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await store.add(sampleDeadLetter("b", 2, { group: "shipping" }));
    await store.add(sampleDeadLetter("c", 3));
    await store.add(sampleDeadLetter("d", 4, { status: "archived" }));
    await store.add(sampleDeadLetter("e", 5, { status: "retried", retries: 1 }));
    const result = await queue.retryMany({ group: "inventory" }, ops);
    expect(result).toEqual({ retried: ["a", "c"], failed: [] });
    expect(redeliver.mock.calls.map((call) => call[1].id)).toEqual(["env-a", "env-c"]);
  });

  it("archives with an audit entry, once", async () => {
    await store.add(sampleDeadLetter("a", 1));
    expect(await queue.archive("a", { actor: "bob" })).toMatchObject({ status: "archived" });
    await queue.archive("a", { actor: "bob" });
    expect(await store.get("a")).toMatchObject({ status: "archived" });
    expect((await store.audit("a")).map((e) => `${e.action}:${e.actor}`)).toEqual(["archived:bob"]);
    await expect(queue.archive("nope", ops)).rejects.toMatchObject({ code: "DLQ_NOT_FOUND" });
  });

  it("purges records older than an age, keeping newer ones, and audits each", async () => {
    // NOW is 13:00; records at 12:01..12:40.
    for (const minute of [1, 20, 30, 40]) await store.add(sampleDeadLetter(`m${minute}`, minute));
    const { purged } = await queue.purge({ maxAgeMs: 30 * 60_000 }, { actor: "janitor" });
    expect(purged.sort()).toEqual(["m1", "m20"]);
    expect((await store.list()).map((r) => r.id)).toEqual(["m40", "m30"]);
    expect((await store.audit()).map((e) => `${e.recordId}:${e.action}:${e.actor}`).sort()).toEqual([
      "m1:purged:janitor",
      "m20:purged:janitor",
    ]);
  });

  it("purges by cut-off time and status", async () => {
    await store.add(sampleDeadLetter("a", 1, { status: "archived" }));
    await store.add(sampleDeadLetter("b", 2));
    await store.add(sampleDeadLetter("c", 50, { status: "archived" }));
    const { purged } = await queue.purge({ olderThan: "2025-01-01T12:30:00.000Z", status: "archived" }, ops);
    expect(purged).toEqual(["a"]);
    expect((await store.list()).map((r) => r.id)).toEqual(["c", "b"]);
  });

  it("purges by id, auditing only the records that existed", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await store.add(sampleDeadLetter("b", 2));
    expect(await queue.purge(["a", "nope", "a"], ops)).toEqual({ purged: ["a"] });
    expect(await store.get("a")).toBeUndefined();
    expect((await store.audit()).map((e) => e.recordId)).toEqual(["a"]);
  });

  it("rejects a purge cut-off that is not a date", async () => {
    await store.add(sampleDeadLetter("a", 1));
    await expect(queue.purge({ olderThan: "last week" }, ops)).rejects.toMatchObject({ code: "DLQ_INVALID" });
    expect(await store.get("a")).toBeDefined();
  });

  // break17 F7: a bulk call by filter took every record there was; one by ids any number of them.
  it("refuses a bulk call over its bounds (over 1,000 ids, a limit out of 1-1000, a foreign cursor) with DLQ_INVALID, doing nothing", async () => {
    await store.add(sampleDeadLetter("a", 1));
    const ids = Array.from({ length: 1_001 }, (_, i) => `id-${i}`);
    const cutoff = { olderThan: "2030-01-01T00:00:00Z" };
    for (const refused of [
      queue.retryMany(ids, ops),
      queue.purge(ids, ops),
      queue.retryMany({ limit: 1_001 }, ops),
      queue.retryMany({ limit: 0 }, ops),
      queue.retryMany({ cursor: "zzz" }, ops),
      queue.purge({ ...cutoff, limit: 1.5 }, ops),
      queue.purge({ ...cutoff, cursor: "WzEsImEiXQ" }, ops),
    ])
      await expect(refused).rejects.toMatchObject({ code: "DLQ_INVALID" });
    expect(redeliver).not.toHaveBeenCalled();
    expect(await store.get("a")).toMatchObject({ status: "dead" });
    // The same 1,000 ids (duplicates count once) are taken.
    expect((await queue.retryMany([...ids.slice(0, 1_000), "id-0"], ops)).failed).toHaveLength(1_000);
  });
});
