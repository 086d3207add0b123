/**
 * Scheduled delivery over Redis, as the service's own ACL user: due shipments that fail every pass
 * (an unreadable record, a key of the wrong type) do not keep the others from being delivered,
 * whatever their number (break-svc7 F1), one that fails transiently is delivered once it clears,
 * and two pollers deliver each shipment once.
 */
import { Redis } from "ioredis";
import { expect, it, onTestFinished } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { provisionAclUsers } from "../../system/redis-acl.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createLogger } from "../../lib/observability/logger.js";
import { waitFor } from "../../test-support/wait.js";
import { deliverDue, type DeliveryRetry, startDeliveryPoller, UnreadableRecordError } from "./delivery.js";
import { preparedRecord } from "./domain.js";
import { dueFailuresKey, dueKey, dueUnreadableKey, eventStreamKey, parkedKey, shipmentKey } from "./keys.js";
import { RedisShippingStore } from "./redis-store.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const DELAY = 5_000;

describeWithRedis("scheduled delivery over Redis", (getRedis) => {
  const publisher = new Publisher({
    events: AllEvents,
    transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
    source: { service: "shipping", instance: "test" },
  });

  async function setup() {
    await getRedis().flush();
    const admin = getRedis().client();
    // The service's own Redis user: a command its ACL lacks fails the script (NOPERM).
    const { username, password } = (await provisionAclUsers(admin)).get("shipping")!;
    const redis = new Redis(getRedis().url, { username, password, maxRetriesPerRequest: 0 });
    onTestFinished(() => redis.disconnect());
    const store = new RedisShippingStore(redis);
    let clock = T0;
    const record = (orderId: string) =>
      preparedRecord(
        { orderId, userId: "u", items: [{ productId: "p", quantity: 1 }] },
        { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000000", carrier: "SimShip" },
        `corr-${orderId}`,
        T0,
      );
    return {
      admin,
      store,
      deps: { store, publisher, now: () => clock },
      advance: (ms: number) => (clock += ms),
      record,
      prepare: async (orderId: string, delayMs = DELAY) => {
        expect(await store.commit(record(orderId), null, [])).toBe(true);
        expect(await store.scheduleDelivery(orderId, T0, delayMs)).toEqual({ scheduled: true });
      },
      delivered: async () =>
        (await admin.xrange(eventStreamKey("shipping", "shipping.shipment.delivered"), "-", "+")).map(
          ([, fields]) => (decodeEnvelope(fields[1] ?? "").payload as { orderId: string }).orderId,
        ),
    };
  }

  it("delivers good shipments within two passes of two pollers behind 150 that fail every pass, each once", async () => {
    const { admin, deps, advance, prepare, delivered } = await setup();
    // Due before the good ones: 149 records that do not parse, and one key of the wrong type.
    for (let i = 0; i < 149; i++) {
      await admin.hset(shipmentKey(`bad-${i}`), "status", "prepared", "data", "{not json");
      await admin.zadd(dueKey(), T0 + DELAY - 1_000 + i, `bad-${i}`);
    }
    await admin.set(shipmentKey("bad-type"), "x");
    await admin.zadd(dueKey(), T0 + DELAY - 1_000, "bad-type");
    for (let i = 0; i < 5; i++) await prepare(`good-${i}`);
    advance(DELAY);
    const failures: string[] = [];
    const onFailure = (orderId: string) => failures.push(orderId);
    for (let pass = 0; pass < 2; pass++) {
      await Promise.all([deliverDue({ ...deps, onFailure }), deliverDue({ ...deps, onFailure })]);
      advance(25);
    }
    expect((await delivered()).sort()).toEqual(["good-0", "good-1", "good-2", "good-3", "good-4"]);
    // Both pollers may have tried a failing one in the same pass; it was moved back once.
    expect(new Set(failures).size).toBe(150);
    const counts = await admin.hgetall(dueFailuresKey());
    expect(Object.keys(counts)).toHaveLength(150);
    expect(new Set(Object.values(counts))).toEqual(new Set(["1"]));
    expect(await admin.zcount(dueKey(), "-inf", T0 + DELAY + 50)).toBe(0);
    expect(await admin.zcard(dueKey())).toBe(150);
  });

  it("delivers a shipment whose key failed (wrong type) once it is repaired, after its backoff, once", async () => {
    const { admin, store, deps, advance, record, prepare, delivered } = await setup();
    await prepare("o-1");
    const stored = await admin.hgetall(shipmentKey("o-1"));
    await admin.del(shipmentKey("o-1"));
    await admin.set(shipmentKey("o-1"), "not a hash");
    advance(DELAY);
    const retries: unknown[] = [];
    const onFailure = (_orderId: string, _error: unknown, retry: unknown) => retries.push(retry);
    expect((await deliverDue({ ...deps, onFailure })).delivered).toBe(0);
    expect(retries).toEqual([{ deferred: true, failures: 1, retryAt: T0 + DELAY + 1_000 }]);
    // Repaired (the failure cleared): due again after the backoff, then delivered.
    await admin.del(shipmentKey("o-1"));
    await admin.hset(shipmentKey("o-1"), stored);
    advance(999);
    expect((await deliverDue({ ...deps, onFailure })).delivered).toBe(0);
    advance(1);
    const counts = await Promise.all([
      deliverDue({ ...deps, onFailure }),
      deliverDue({ ...deps, onFailure }),
    ]);
    expect(counts[0].delivered + counts[1].delivered).toBe(1);
    expect(await delivered()).toEqual(["o-1"]);
    expect((await store.get("o-1"))?.status).toBe("delivered");
    expect(record("o-1").status).toBe("prepared");
    expect(await admin.exists(dueFailuresKey())).toBe(0);
    expect(retries).toHaveLength(1);
  });

  it("parks a record that never reads at its Nth try, once across two pollers, never one failing on a Redis error, and delivers it once re-queued", async () => {
    const { admin, store, deps, advance, prepare, delivered } = await setup();
    await prepare("unreadable");
    const good = await admin.hget(shipmentKey("unreadable"), "data");
    await admin.hset(shipmentKey("unreadable"), "data", "{not json");
    // A key of another type: a Redis error (WRONGTYPE) on every try, not an unreadable record.
    await admin.zadd(dueKey(), T0 + DELAY, "wrong-type");
    await admin.set(shipmentKey("wrong-type"), "x");
    advance(DELAY);
    const parked: string[] = [];
    const onFailure = (orderId: string, _error: unknown, retry: DeliveryRetry) => {
      if (retry.parked) parked.push(orderId);
    };
    const pollers = { ...deps, onFailure, parkAfter: 4, retry: { baseMs: 1_000, maxMs: 1_000 } };
    for (let pass = 0; pass < 8; pass++) {
      await Promise.all([deliverDue(pollers), deliverDue(pollers)]);
      advance(1_000);
    }
    expect(parked).toEqual(["unreadable"]);
    expect(await admin.zrange(dueKey(), 0, -1)).toEqual(["wrong-type"]);
    expect(await admin.hget(dueFailuresKey(), "wrong-type")).toBe("8");
    expect(await admin.hexists(dueUnreadableKey(), "unreadable")).toBe(0);
    const [entry] = await store.parked();
    expect(entry).toMatchObject({ orderId: "unreadable", parkedAt: T0 + DELAY + 3_000 });
    expect(entry?.reason).toMatch(/cannot be read: .*JSON/);
    expect(await admin.hlen(parkedKey())).toBe(1);
    // The operator repairs the record and re-queues it: delivered once.
    await admin.hset(shipmentKey("unreadable"), "data", good!);
    expect(await store.requeueParked("unreadable", T0)).toBe(true);
    expect((await deliverDue(pollers)).delivered).toBe(1);
    expect(await delivered()).toEqual(["unreadable"]);
    expect(await store.parkedCount()).toBe(0);
  });

  // break17 F9: an entry whose record had no `data` field was dropped from the schedule silently
  // (not parked, no warning), and its order stayed shipped for good.
  it("parks a shipment whose record lost its data field, as an unreadable one, and delivers it once repaired and re-queued", async () => {
    const { admin, store, deps, advance, prepare, delivered } = await setup();
    await prepare("no-data");
    await prepare("replaced");
    const stored = await admin.hgetall(shipmentKey("no-data"));
    const replaced = await admin.hgetall(shipmentKey("replaced"));
    await admin.hdel(shipmentKey("no-data"), "data");
    // The reviewer's case: the hash replaced by one with an unrelated field.
    await admin.del(shipmentKey("replaced"));
    await admin.hset(shipmentKey("replaced"), "junk", "1");
    advance(DELAY);
    const failures: { orderId: string; error: unknown; retry: DeliveryRetry }[] = [];
    const onFailure = (orderId: string, error: unknown, retry: DeliveryRetry) =>
      failures.push({ orderId, error, retry });
    const pollers = { ...deps, onFailure, parkAfter: 3, retry: { baseMs: 1_000, maxMs: 1_000 } };
    const first = await deliverDue(pollers);
    expect(first).toEqual({ delivered: 0, deferred: 2, parked: 0 });
    expect(failures.every((f) => f.error instanceof UnreadableRecordError)).toBe(true);
    expect(await admin.zscore(dueKey(), "no-data")).toBe(String(T0 + DELAY + 1_000));
    for (let pass = 0; pass < 4; pass++) {
      advance(1_000);
      await deliverDue(pollers);
    }
    expect(
      failures
        .filter((f) => f.retry.parked)
        .map((f) => f.orderId)
        .sort(),
    ).toEqual(["no-data", "replaced"]);
    expect(await admin.zcard(dueKey())).toBe(0);
    const parked = await store.parked();
    expect(parked.map((p) => p.orderId).sort()).toEqual(["no-data", "replaced"]);
    for (const entry of parked) expect(entry.reason).toMatch(/cannot be read: no record stored/);
    // The operator restores the records and re-queues them: each delivered once.
    await admin.hset(shipmentKey("no-data"), "data", stored.data!);
    await admin.del(shipmentKey("replaced"));
    await admin.hset(shipmentKey("replaced"), replaced);
    expect(await store.requeueParked("no-data", T0)).toBe(true);
    expect(await store.requeueParked("replaced", T0)).toBe(true);
    expect((await deliverDue(pollers)).delivered).toBe(2);
    expect((await delivered()).sort()).toEqual(["no-data", "replaced"]);
  });

  it("the poller removes failure counts an older release's claim left behind, keeping those of scheduled shipments", async () => {
    const { admin, deps, advance, prepare } = await setup();
    await prepare("waiting", 60_000);
    advance(60_000);
    await deps.store.deferDue("waiting", T0 + 60_000, { baseMs: 60_000, maxMs: 60_000 });
    await admin.hset(dueFailuresKey(), "claimed-by-old-release", "2");
    await admin.hset(dueUnreadableKey(), "claimed-by-old-release", "2");
    const poller = startDeliveryPoller({
      ...deps,
      intervalMs: 10,
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    try {
      // One walk, the failure counts then the unreadable counts: both swept, one step after the other.
      await waitFor(
        async () =>
          (await admin.hexists(dueFailuresKey(), "claimed-by-old-release")) === 0 &&
          (await admin.hexists(dueUnreadableKey(), "claimed-by-old-release")) === 0,
        5_000,
        "orphaned counts swept",
      );
    } finally {
      await poller.stop();
    }
    expect(await admin.hgetall(dueFailuresKey())).toEqual({ waiting: "1" });
    expect(await admin.exists(dueUnreadableKey())).toBe(0);
  });

  // break9 F4: a wrong-typed bookkeeping key failed every move-back (DEFER checked `parked` even when
  // not parking) or every claim (the counts' type was checked first): failing shipments stayed at
  // the head of the schedule and no good one was delivered.
  it.each([
    ["parked entries", parkedKey()],
    ["unreadable counts", dueUnreadableKey()],
    ["failure counts", dueFailuresKey()],
  ])(
    "delivers good shipments once behind failing ones while the %s key holds another type, and names the key",
    async (_name, damaged) => {
      const { admin, store, deps, advance, prepare, delivered } = await setup();
      await admin.set(damaged, "oops");
      for (let i = 0; i < 12; i++) {
        await admin.hset(shipmentKey(`bad-${i}`), "status", "prepared", "data", "{not json");
        await admin.zadd(dueKey(), T0 + DELAY - 1_000 + i, `bad-${i}`);
      }
      for (let i = 0; i < 5; i++) await prepare(`good-${i}`);
      advance(DELAY);
      // Parking on the first unreadable try: the parking path runs too.
      const pollers = { ...deps, batchSize: 10, parkAfter: 1, onFailure: () => {} };
      for (let pass = 0; pass < 3; pass++) {
        await Promise.all([deliverDue(pollers), deliverDue(pollers)]);
        advance(25);
      }
      expect((await delivered()).sort()).toEqual(["good-0", "good-1", "good-2", "good-3", "good-4"]);
      expect(await admin.get(damaged)).toBe("oops");
      expect(store.damagedKeys()).toContainEqual({ key: damaged, type: "string" });
    },
  );

  it("the poller reports a bookkeeping key of another type as an error and a delivery error, and delivers", async () => {
    const { admin, deps, advance, prepare, delivered } = await setup();
    await admin.set(dueUnreadableKey(), "oops");
    await prepare("good");
    advance(DELAY);
    const errorsLogged: unknown[] = [];
    const logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (fields: unknown) => errorsLogged.push(fields),
    } as unknown as Parameters<typeof startDeliveryPoller>[0]["logger"];
    let errors = 0;
    const poller = startDeliveryPoller({ ...deps, intervalMs: 10, logger, errors: { inc: () => errors++ } });
    try {
      await waitFor(
        async () => (await delivered()).length === 1 && errors > 0,
        10_000,
        "delivered, reported",
      );
    } finally {
      await poller.stop();
    }
    expect(await delivered()).toEqual(["good"]);
    expect(errorsLogged).toContainEqual(expect.objectContaining({ key: dueUnreadableKey(), type: "string" }));
  });
});
