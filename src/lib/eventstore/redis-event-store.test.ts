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

  it("logs each append once in the global log, by reference: the events are stored once", async () => {
    const redis = getRedis().client();
    await getRedis().flush();
    const store = new RedisEventStore({ redis, tag: "toy" });
    const big = { type: "x", data: { text: "y".repeat(2_000) } };
    await store.append("s-1", [big, big, big], { expectedVersion: "no_stream" });
    await store.append("s-2", [big], { expectedVersion: "no_stream" });
    const entries = await redis.xrange(allEventsKey("toy"), "-", "+");
    expect(entries).toEqual([
      ["1-0", ["k", streamKey("toy", "s-1"), "v", "1", "n", "3"]],
      ["4-0", ["k", streamKey("toy", "s-2"), "v", "1", "n", "1"]],
    ]);
    expect((await store.readAll()).map((e) => `${e.streamId}@${e.globalPosition}`)).toEqual([
      "s-1@0000000000000001",
      "s-1@0000000000000002",
      "s-1@0000000000000003",
      "s-2@0000000000000004",
    ]);
  });

  it("reads a global log written before appends were logged by reference, then new appends", async () => {
    const redis = getRedis().client();
    await getRedis().flush();
    const store = new RedisEventStore({ redis, tag: "toy" });
    // What the previous version wrote for `s-1` (two events): each event whole in the log.
    for (const version of [1, 2]) {
      const body = JSON.stringify({
        version,
        globalPosition: `000000000000000${version}`,
        streamId: "s-1",
        type: "x",
        metadata: {},
        recordedAt: "2024-05-01T10:00:00.000Z",
        data: { n: version },
      });
      await redis.rpush(streamKey("toy", "s-1"), body);
      await redis.xadd(allEventsKey("toy"), `${version}-0`, "e", body);
    }
    await redis.set("{toy}:es:pos", "2");
    await store.append("s-1", [{ type: "x", data: { n: 3 } }], { expectedVersion: 2 });
    const all = await store.readAll();
    expect(all.map((e) => [e.version, e.globalPosition, e.data])).toEqual([
      [1, "0000000000000001", { n: 1 }],
      [2, "0000000000000002", { n: 2 }],
      [3, "0000000000000003", { n: 3 }],
    ]);
    expect(await store.readAll({ after: "0000000000000001", limit: 1 })).toEqual([all[1]]);
    expect(await store.readAll({ after: "0000000000000002" })).toEqual([all[2]]);
  });

  it("checks an expected last event stored without an append id by its position, type and time", async () => {
    const redis = getRedis().client();
    await getRedis().flush();
    const store = new RedisEventStore({ redis, tag: "toy" });
    // What a version before append ids wrote: no `appendId` in the body.
    const old = {
      version: 1,
      globalPosition: "0000000000000001",
      streamId: "s-1",
      type: "x",
      metadata: {},
      recordedAt: "2024-05-01T10:00:00.000Z",
      data: { n: 1 },
    };
    await redis.rpush(streamKey("toy", "s-1"), JSON.stringify(old));
    await redis.set("{toy}:es:pos", "1");
    const [stored] = await store.read("s-1");
    expect(stored).toEqual(old);
    const mark = { globalPosition: old.globalPosition, type: old.type, recordedAt: old.recordedAt };
    // A mark with an append id is another event's: this one has none.
    await expect(
      store.append("s-1", [{ type: "x", data: { n: 2 } }], {
        expectedVersion: 1,
        expectedLast: { ...mark, appendId: "some-append-id-0000000" },
      }),
    ).rejects.toMatchObject({ code: "CONCURRENCY_CONFLICT", actual: 1 });
    const next = await store.append("s-1", [{ type: "x", data: { n: 2 } }], {
      expectedVersion: 1,
      expectedLast: { ...mark, appendId: stored?.appendId },
    });
    expect(next.nextVersion).toBe(2);
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
