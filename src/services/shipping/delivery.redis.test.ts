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
import { deliverDue } from "./delivery.js";
import { preparedRecord } from "./domain.js";
import { dueFailuresKey, dueKey, eventStreamKey, shipmentKey } from "./keys.js";
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
    expect(await deliverDue({ ...deps, onFailure })).toBe(0);
    expect(retries).toEqual([{ deferred: true, failures: 1, retryAt: T0 + DELAY + 1_000 }]);
    // Repaired (the failure cleared): due again after the backoff, then delivered.
    await admin.del(shipmentKey("o-1"));
    await admin.hset(shipmentKey("o-1"), stored);
    advance(999);
    expect(await deliverDue({ ...deps, onFailure })).toBe(0);
    advance(1);
    const counts = await Promise.all([
      deliverDue({ ...deps, onFailure }),
      deliverDue({ ...deps, onFailure }),
    ]);
    expect(counts[0] + counts[1]).toBe(1);
    expect(await delivered()).toEqual(["o-1"]);
    expect((await store.get("o-1"))?.status).toBe("delivered");
    expect(record("o-1").status).toBe("prepared");
    expect(await admin.exists(dueFailuresKey())).toBe(0);
    expect(retries).toHaveLength(1);
  });
});
