import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { cancelledRecord, deliveredRecord, preparedRecord } from "./domain.js";
import { dueFailuresKey, dueKey, dueUnreadableKey, eventStreamKey, parkedKey, shipmentKey } from "./keys.js";
import { RedisShippingStore } from "./redis-store.js";
import { runShippingStoreContract } from "./store-contract.js";

/** A prepared shipment of `orderId`, scheduled and due at `at` (ms epoch). */
async function scheduleDueAt(store: RedisShippingStore, orderId: string, at: number): Promise<void> {
  const record = preparedRecord(
    { orderId, userId: "u", items: [{ productId: "p", quantity: 1 }] },
    { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000000", carrier: "SimShip" },
    "corr",
    at,
  );
  await store.commit(record, null, []);
  await store.scheduleDelivery(orderId, at, 0);
}

describeWithRedis("RedisShippingStore", (getRedis) => {
  runShippingStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisShippingStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(eventStreamKey("shipping", topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });

  it("lists a hand-damaged parked entry as unreadable instead of failing the whole list", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    await redis.hset(parkedKey(), "damaged", "{not json", "garbled", JSON.stringify({ reason: 7 }));
    await redis.hset(
      parkedKey(),
      "fine",
      JSON.stringify({ reason: "unreadable record", parkedAt: 1_000, tries: 15 }),
    );
    const page = await store.pageParked("0", 10);
    const byId = new Map(page.parked.map((p) => [p.orderId, p]));
    expect(byId.get("fine")).toEqual({
      orderId: "fine",
      reason: "unreadable record",
      parkedAt: 1_000,
      tries: 15,
    });
    expect(byId.get("damaged")).toEqual({ orderId: "damaged", reason: "unreadable parked entry: {not json" });
    expect(byId.get("garbled")?.reason).toMatch(/^unreadable parked entry: /);
    expect((await store.parked()).map((p) => p.orderId).sort()).toEqual(["damaged", "fine", "garbled"]);
  });

  it("keeps a failure count only while its shipment is on the schedule (claimed, cancelled, dropped: gone)", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    const T0 = Date.parse("2030-01-01T00:00:00.000Z");
    const backoff = { baseMs: 1_000, maxMs: 60_000 };
    const ids = ["claimed", "cancelled", "dropped", "waiting"].map((n) => `${n}-${randomUUID()}`);
    for (const orderId of ids) {
      await scheduleDueAt(store, orderId, T0);
      expect(await store.deferDue(orderId, T0, backoff)).toEqual({ failures: 1, retryAt: T0 + 1_000 });
    }
    expect((await redis.hkeys(dueFailuresKey())).sort()).toEqual([...ids].sort());
    const [claimed, cancelled, dropped, waiting] = ids as [string, string, string, string];
    const current = async (orderId: string) => (await store.get(orderId))!;
    expect(
      await store.claimDelivery(deliveredRecord(await current(claimed), "2030-01-01T00:00:01.000Z"), []),
    ).toBe(true);
    const cancel = cancelledRecord(await current(cancelled), "saga failed", "2030-01-01T00:00:01.000Z");
    expect(await store.commit(cancel, "prepared", [], true)).toBe(true);
    await store.dropDue(dropped);
    // Each field leaves with its schedule entry, in the same step (no count left behind).
    expect(await redis.hgetall(dueFailuresKey())).toEqual({ [waiting]: "1" });
    expect(await redis.zrange(dueKey(), 0, -1)).toEqual([waiting]);
  });

  it("never leaves a shipment off the schedule undelivered when its failure count cannot be removed (a user without HDEL)", async () => {
    const admin = getRedis().client();
    await admin.flushall();
    // The previous release's ACL had no HDEL for shipping: a script's writes before a failing
    // command stay (Redis does not undo them), so the claim's ZREM was kept and the delivery lost.
    await admin.call("ACL", "SETUSER", "shipping-old", "on", "nopass", "~*", "&*", "+@all", "-hdel");
    const redis = new Redis({
      host: "127.0.0.1",
      port: getRedis().port,
      username: "shipping-old",
      password: "x",
    });
    try {
      const store = new RedisShippingStore(redis);
      const T0 = Date.parse("2030-01-01T00:00:00.000Z");
      const [toDeliver, toCancel] = ["deliver", "cancel"].map((n) => `${n}-${randomUUID()}`) as [
        string,
        string,
      ];
      for (const orderId of [toDeliver, toCancel]) {
        await scheduleDueAt(store, orderId, T0);
      }
      const current = async (orderId: string) => (await store.get(orderId))!;
      await store
        .claimDelivery(deliveredRecord(await current(toDeliver), "2030-01-01T00:00:01.000Z"), [])
        .catch(() => undefined);
      const cancel = cancelledRecord(await current(toCancel), "saga failed", "2030-01-01T00:00:01.000Z");
      await store.commit(cancel, "prepared", [], true).catch(() => undefined);
      // Each step either happened whole (status and schedule together) or not at all.
      const scheduled = await admin.zrange(dueKey(), 0, -1);
      const deliveredOrScheduled =
        (await current(toDeliver)).status === "delivered" || scheduled.includes(toDeliver);
      expect(deliveredOrScheduled).toBe(true);
      expect((await current(toCancel)).status).toBe("cancelled");
      expect(scheduled).not.toContain(toCancel);
    } finally {
      redis.disconnect();
      await admin.call("ACL", "DELUSER", "shipping-old");
    }
  });

  it("leaves a shipment scheduled and prepared when its claim cannot write the event (stream key of another type); delivered once repaired", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    const T0 = Date.parse("2030-01-01T00:00:00.000Z");
    const orderId = `o-${randomUUID()}`;
    await scheduleDueAt(store, orderId, T0);
    const stream = eventStreamKey("shipping", "shipping.shipment.delivered");
    await redis.set(stream, "not a stream");
    const record = deliveredRecord((await store.get(orderId))!, "2030-01-01T00:00:01.000Z");
    const message = { topic: "shipping.shipment.delivered", owner: "shipping", body: "{}", id: randomUUID() };
    await expect(store.claimDelivery(record, [message])).rejects.toThrow(/WRONGTYPE/);
    // Nothing written: still on the schedule (a later pass delivers it), still prepared.
    expect(await redis.zscore(dueKey(), orderId)).toBe(String(T0));
    expect((await store.get(orderId))?.status).toBe("prepared");
    await redis.del(stream);
    expect(await store.claimDelivery(record, [message])).toBe(true);
    expect(await redis.xlen(stream)).toBe(1);
    expect(await redis.zcard(dueKey())).toBe(0);
  });

  it("writes nothing when a cancel's event or a schedule entry cannot be written (keys of another type)", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    const T0 = Date.parse("2030-01-01T00:00:00.000Z");
    // A cancel whose event stream holds another type: no status without its event, still scheduled.
    const cancelled = `o-${randomUUID()}`;
    await scheduleDueAt(store, cancelled, T0);
    const stream = eventStreamKey("shipping", "shipping.shipment.cancelled");
    await redis.set(stream, "not a stream");
    const cancel = cancelledRecord((await store.get(cancelled))!, "saga failed", "2030-01-01T00:00:01.000Z");
    const message = { topic: "shipping.shipment.cancelled", owner: "shipping", body: "{}", id: randomUUID() };
    await expect(store.commit(cancel, "prepared", [message], true)).rejects.toThrow(/WRONGTYPE/);
    expect((await store.get(cancelled))?.status).toBe("prepared");
    expect(await redis.zscore(dueKey(), cancelled)).toBe(String(T0));
    await redis.del(stream);
    // A schedule whose due set holds another type: the record must not say it is scheduled (a retry
    // would answer "delivery already scheduled" and the shipment would never be delivered).
    await redis.del(dueKey());
    await redis.set(dueKey(), "not a zset");
    const scheduled = `o-${randomUUID()}`;
    const record = preparedRecord(
      { orderId: scheduled, userId: "u", items: [{ productId: "p", quantity: 1 }] },
      { shipmentId: `s-${scheduled}`, trackingNumber: "SIM0000000000", carrier: "SimShip" },
      "corr",
      T0,
    );
    await store.commit(record, null, []);
    await expect(store.scheduleDelivery(scheduled, T0, 0)).rejects.toThrow(/WRONGTYPE/);
    expect(await store.get(scheduled)).toEqual(record);
    await redis.del(dueKey());
    expect(await store.scheduleDelivery(scheduled, T0, 0)).toEqual({ scheduled: true });
    expect(await store.due(T0, 10)).toEqual([scheduled]);
  });

  it("writes nothing when any stream of a commit's or a claim's events holds another type, the first or a later one", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    const T0 = Date.parse("2030-01-01T00:00:00.000Z");
    const topics = ["shipping.shipment.cancelled", "shipping.shipment.delivered"];
    const streams = topics.map((topic) => eventStreamKey("shipping", topic));
    const messages = topics.map((topic) => ({ topic, owner: "shipping", body: "{}", id: randomUUID() }));
    const untouched = async (orderId: string) => {
      expect((await store.get(orderId))?.status).toBe("prepared");
      expect(await redis.zscore(dueKey(), orderId)).toBe(String(T0));
      for (const stream of streams) expect(await redis.type(stream)).not.toBe("stream");
    };
    for (const damaged of streams) {
      const orderId = `o-${randomUUID()}`;
      await scheduleDueAt(store, orderId, T0);
      await redis.set(damaged, "not a stream");
      const current = (await store.get(orderId))!;
      const cancel = cancelledRecord(current, "saga failed", "2030-01-01T00:00:01.000Z");
      await expect(store.commit(cancel, "prepared", messages, true)).rejects.toThrow(/WRONGTYPE/);
      await untouched(orderId);
      const delivered = deliveredRecord(current, "2030-01-01T00:00:01.000Z");
      await expect(store.claimDelivery(delivered, messages)).rejects.toThrow(/WRONGTYPE/);
      await untouched(orderId);
      await redis.del(damaged);
    }
  });

  it("sweeps failure counts whose order left the schedule (an older release's claim), in bounded steps, keeping the others", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    const T0 = Date.parse("2030-01-01T00:00:00.000Z");
    const waiting = `o-${randomUUID()}`;
    await scheduleDueAt(store, waiting, T0);
    await store.deferDue(waiting, T0, { baseMs: 1_000, maxMs: 1_000 }, { after: 10, reason: "x" });
    // What the previous release's claim left: counts of entries it took off the schedule.
    for (let i = 0; i < 250; i++) await redis.hset(dueFailuresKey(), `gone-${i}`, "3");
    await redis.hset(dueUnreadableKey(), "gone-u", "2");
    let cursor = "0";
    let removed = 0;
    let steps = 0;
    do {
      const step = await store.sweepOrphanCounts(cursor, 50);
      cursor = step.next;
      removed += step.removed;
      steps++;
    } while (cursor !== "0" && steps < 100);
    expect(cursor).toBe("0");
    expect(removed).toBe(251);
    expect(await redis.hgetall(dueFailuresKey())).toEqual({ [waiting]: "1" });
    expect(await redis.hgetall(dueUnreadableKey())).toEqual({ [waiting]: "1" });
    expect(await redis.exists(shipmentKey(waiting))).toBe(1);
  });

  it("walks the two count hashes once each, one after the other (a hash done is not walked again while the other goes on)", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisShippingStore(redis);
    // More fields than a listpack holds (hash-max-listpack-entries, 128 or 512), so HSCAN pages the
    // hashes; the counts of scheduled shipments are kept, so the hashes keep their sizes.
    const kept = (n: number) => Array.from({ length: n }, (_, i) => `kept-${i}`);
    await redis.zadd(dueKey(), ...kept(1_500).flatMap((id) => [1, id]));
    await redis.hset(dueFailuresKey(), Object.fromEntries(kept(1_500).map((id) => [id, "1"])));
    await redis.hset(dueUnreadableKey(), Object.fromEntries(kept(700).map((id) => [id, "1"])));
    await redis.hset(dueFailuresKey(), "gone-f", "1");
    await redis.hset(dueUnreadableKey(), "gone-u", "1");
    const pages = async (key: string) => {
      let cursor = "0";
      let n = 0;
      do {
        [cursor] = await redis.hscan(key, cursor, "COUNT", 50);
        n++;
      } while (cursor !== "0");
      return n;
    };
    const expected = (await pages(dueFailuresKey())) + (await pages(dueUnreadableKey()));
    let cursor = "0";
    let removed = 0;
    let steps = 0;
    do {
      const step = await store.sweepOrphanCounts(cursor, 50);
      cursor = step.next;
      removed += step.removed;
      steps++;
    } while (cursor !== "0" && steps < 1_000);
    expect(removed).toBe(2);
    expect(await redis.hlen(dueFailuresKey())).toBe(1_500);
    // One step per page of each hash, and at most one more (a hash finishing on its last page).
    expect(steps).toBeLessThanOrEqual(expected + 1);
  });
});
