import { describe, expect, it } from "vitest";
import type { OutgoingMessage } from "../bus/transport.js";
import { runEventStoreContract } from "./event-store-contract.js";
import { MemoryEventStore } from "./memory-event-store.js";

runEventStoreContract("memory", async ({ tag, now }) => {
  const published: OutgoingMessage[] = [];
  const store = new MemoryEventStore({
    tag,
    now,
    publish: async (messages) => {
      published.push(...messages);
    },
  });
  return {
    store,
    peers: (n) => Array.from({ length: n }, () => store),
    delivered: async (owner, topic) =>
      published.filter((m) => m.owner === owner && m.topic === topic).map((m) => m.body),
  };
});

describe("MemoryEventStore", () => {
  it("refuses outbox messages when it was given no publish callback", async () => {
    const store = new MemoryEventStore({ tag: "toy" });
    const message = { topic: "t", owner: "toy", id: "m", body: "b" };
    await expect(
      store.append("s", [{ type: "x", data: 1 }], { expectedVersion: "any", outbox: [message] }),
    ).rejects.toMatchObject({ code: "NO_PUBLISHER" });
    expect(await store.version("s")).toBe(0);
  });

  it("hands out stored events frozen, so callers cannot change history", async () => {
    const store = new MemoryEventStore({ tag: "toy" });
    await store.append("s", [{ type: "x", data: { n: 1, nested: { m: 1 } } }], { expectedVersion: "any" });
    const [first] = await store.read("s");
    expect(() => {
      (first as { data: unknown }).data = { n: 2 };
    }).toThrow(TypeError);
    expect(() => {
      (first?.data as { nested: { m: number } }).nested.m = 2;
    }).toThrow(TypeError);
    const [fromLog] = await store.readAll();
    expect(fromLog?.data).toEqual({ n: 1, nested: { m: 1 } });
  });
});
