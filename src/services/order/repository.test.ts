import { describe, expect, it } from "vitest";
import { MemoryEventStore } from "../../lib/eventstore/memory-event-store.js";
import { ORDER_TAG } from "./keys.js";
import { OrderRepository } from "./repository.js";

/** Counts the event-store reads that start at the beginning of a stream (a cache miss). */
function countingStore() {
  const store = new MemoryEventStore({ tag: ORDER_TAG });
  const fullReads: string[] = [];
  const read = store.read.bind(store);
  store.read = (streamId, options) => {
    if (!options?.fromVersion) fullReads.push(streamId);
    return read(streamId, options);
  };
  return { store, fullReads };
}

const created = (orderId: string) => ({
  type: "order.event.created" as const,
  data: {
    orderId,
    userId: "u1",
    items: [{ productId: "p1", quantity: 1 }],
    placedAt: new Date(0).toISOString(),
  },
  metadata: { paymentToken: "tok_ok", correlationId: `c-${orderId}` },
});

describe("order repository cache", () => {
  it("keeps at most cacheSize folded orders, dropping the least recently used", async () => {
    const { store, fullReads } = countingStore();
    const repository = new OrderRepository(store, { cacheSize: 2 });
    for (const id of ["o1", "o2", "o3"]) await repository.save(id, "no_stream", [created(id)], []);
    for (const id of ["o1", "o2", "o3"]) expect(await repository.load(id)).toBeDefined();
    expect(fullReads).toEqual(["order-o1", "order-o2", "order-o3"]);
    // o2 and o3 are cached; o1 was dropped when o3 came in, so it is read in full again.
    await repository.load("o3");
    await repository.load("o2");
    expect(fullReads).toHaveLength(3);
    await repository.load("o1");
    expect(fullReads).toEqual(["order-o1", "order-o2", "order-o3", "order-o1"]);
  });
});
