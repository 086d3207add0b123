import { expect, it } from "vitest";
import { describeWithRedis, externalRedis } from "../../test-support/redis.js";
import { eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { runEventStoreContract } from "./event-store-contract.js";
import { allEventsKey, streamKey } from "./keys.js";
import { RedisEventStore } from "./redis-event-store.js";

describeWithRedis("RedisEventStore", (getRedis) => {
  runEventStoreContract("redis", async ({ tag, now }) => {
    await getRedis().flush();
    const store = new RedisEventStore({ redis: getRedis().client(), tag, now });
    return {
      store,
      // Own connections, so the 20 appends really race on the server.
      peers: (n) =>
        Array.from({ length: n }, () => new RedisEventStore({ redis: getRedis().client(), tag, now })),
      delivered: async (owner, topic) => {
        const entries = await getRedis().client().xrange(eventStreamKey(owner, topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });

  it("keeps every key of a store in its hash tag's slot", async () => {
    const redis = getRedis().client();
    await getRedis().flush();
    const store = new RedisEventStore({ redis, tag: "toy" });
    await store.append("s-1", [{ type: "x", data: 1 }], {
      expectedVersion: "any",
      outbox: [{ topic: "x", owner: "toy", id: "m", body: "b" }],
    });
    const keys = (await redis.keys("*")).sort();
    expect(keys).toEqual(
      expect.arrayContaining([streamKey("toy", "s-1"), allEventsKey("toy"), eventStreamKey("toy", "x")]),
    );
    for (const key of keys) expect(key.startsWith("{toy}:")).toBe(true);
  });

  it.skipIf(externalRedis)("keeps appended events across a Redis restart", async () => {
    const server = getRedis();
    await server.flush();
    const store = new RedisEventStore({ redis: server.client(), tag: "toy" });
    await store.append("s-1", [{ type: "x", data: { n: 1 } }], { expectedVersion: "no_stream" });
    await server.restart();
    const after = new RedisEventStore({ redis: server.client(), tag: "toy" });
    expect((await after.read("s-1")).map((e) => e.data)).toEqual([{ n: 1 }]);
    const next = await after.append("s-1", [{ type: "x", data: { n: 2 } }], { expectedVersion: 1 });
    expect(next.positions).toEqual(["0000000000000002"]);
  });
});
