/**
 * Break35 F1: a write the gateway gave up on must not land later. An append given `applyBy` (epoch
 * ms) is refused by its own atomic step once Redis `TIME` is past it, so a stall between the
 * service's credential check and its write cannot land it late either.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { RedisEventStore } from "./redis-event-store.js";
import { MemoryEventStore } from "./memory-event-store.js";

describeWithRedis("an append with a deadline (applyBy)", (getRedis) => {
  it("is refused by the script when Redis TIME is past the deadline: nothing is written", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    // The store's own clock says "early": only Redis's TIME can refuse it.
    const store = new RedisEventStore({ redis, tag: "toy", now: () => 0 });
    const [seconds] = await redis.time();
    const past = Number(seconds) * 1_000 - 5_000;
    const late = store.append("s-late", [{ type: "x", data: 1 }], {
      expectedVersion: "no_stream",
      outbox: [{ topic: "x", owner: "toy", id: "m", body: "b" }],
      applyBy: past,
    });
    await expect(late).rejects.toMatchObject({ code: "APPEND_DEADLINE_PASSED" });
    expect(await store.version("s-late")).toBe(0);
    expect(await redis.keys("*")).toEqual([]);
  });

  it("is applied while Redis TIME is before the deadline", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const store = new RedisEventStore({ redis, tag: "toy" });
    const [seconds] = await redis.time();
    await store.append("s-on-time", [{ type: "x", data: 1 }], {
      expectedVersion: "no_stream",
      applyBy: Number(seconds) * 1_000 + 60_000,
    });
    expect(await store.version("s-on-time")).toBe(1);
  });
});

it("the memory store refuses an append past its deadline on its own clock", async () => {
  const store = new MemoryEventStore({ tag: "toy", now: () => 10_000 });
  await expect(
    store.append("s-1", [{ type: "x", data: 1 }], { expectedVersion: "no_stream", applyBy: 9_999 }),
  ).rejects.toMatchObject({ code: "APPEND_DEADLINE_PASSED" });
  expect(await store.version("s-1")).toBe(0);
  await store.append("s-1", [{ type: "x", data: 1 }], { expectedVersion: "no_stream", applyBy: 10_000 });
  expect(await store.version("s-1")).toBe(1);
});
