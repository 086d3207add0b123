/**
 * A bulk retry whose store stops answering after a batch was replayed and marked (break30 F1: a
 * 503 "retry shortly" came back, and the same call again replayed the first batch twice) answers
 * what it did: by ids, the untouched ids fail with the store's error; by filter, a cursor after the
 * batches done. The same call again, or going on from the cursor, replays each record once.
 */
import { describe, expect, it } from "vitest";
import type { OutgoingMessage } from "../bus/transport.js";
import { DeadLetterQueue } from "./dead-letter-queue.js";
import type { DeadLetterStore } from "./dead-letter-store.js";
import { MemoryDeadLetterStore } from "./memory-dead-letter-store.js";
import { sampleDeadLetter } from "./store-contract.js";

const ops = { actor: "ops" };
class StoreUnavailable extends Error {
  readonly code = "SERVICE_UNAVAILABLE";
}

/** `store`, whose `method` fails from its `from`-th call on while `down()` is true (the first queue's store). */
function flaky(store: DeadLetterStore, method: "get" | "oldest", from: number, down: () => boolean) {
  let calls = 0;
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== method || typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls++;
        if (calls >= from && down()) return Promise.reject(new StoreUnavailable("store did not answer"));
        return Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
      };
    },
  });
}

async function setup(method: "get" | "oldest", from: number) {
  const store = new MemoryDeadLetterStore();
  for (let i = 0; i < 6; i++) await store.add(sampleDeadLetter(`r-${i}`, i));
  const replays: string[] = [];
  const queue = (s: DeadLetterStore) =>
    new DeadLetterQueue({
      store: s,
      batchSize: 2,
      redeliver: async (_group: string, message: OutgoingMessage) => void replays.push(message.body),
    });
  return {
    store,
    replays,
    flakyQueue: queue(flaky(store, method, from, () => true)),
    queue: queue(store),
  };
}

describe("a bulk retry whose store stops answering after a batch", () => {
  it("by ids: answers the batch retried and the untouched ids failed; those again replay each once", async () => {
    const ids = ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"];
    // The first batch's two reads answer; the second batch's fail.
    const { flakyQueue, queue, replays, store } = await setup("get", 3);
    const first = await flakyQueue.retryMany(ids, ops);
    expect(first.retried).toEqual(["r-0", "r-1"]);
    expect(first.failed.map((f) => [f.id, f.error.code])).toEqual(
      ["r-2", "r-3", "r-4", "r-5"].map((id) => [id, "SERVICE_UNAVAILABLE"]),
    );
    const again = await queue.retryMany(
      first.failed.map((f) => f.id),
      ops,
    );
    expect(again.retried).toEqual(["r-2", "r-3", "r-4", "r-5"]);
    expect(replays).toHaveLength(6);
    for (const id of ids) expect((await store.get(id))?.retries).toBe(1);
  });

  it("by filter: answers the batch retried with a cursor after it; going on from it replays each once", async () => {
    // The index's first read answers; the next one fails.
    const { flakyQueue, queue, replays, store } = await setup("oldest", 2);
    const first = await flakyQueue.retryMany({ status: "dead", limit: 100 }, ops);
    expect(first.retried).toEqual(["r-0", "r-1"]);
    expect(first.nextCursor).toBeDefined();
    let cursor = first.nextCursor;
    while (cursor !== undefined)
      cursor = (await queue.retryMany({ status: "dead", limit: 100, cursor }, ops)).nextCursor;
    expect(replays).toHaveLength(6);
    for (let i = 0; i < 6; i++) expect((await store.get(`r-${i}`))?.retries).toBe(1);
  });

  it("with nothing done yet, still fails as the store failed (nothing was sent)", async () => {
    const { flakyQueue, replays } = await setup("get", 1);
    await expect(flakyQueue.retryMany(["r-0", "r-1", "r-2"], ops)).rejects.toBeInstanceOf(StoreUnavailable);
    expect(replays).toEqual([]);
  });
});
