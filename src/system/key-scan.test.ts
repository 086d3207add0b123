import { expect, it } from "vitest";
import { eventStreamKey } from "../lib/bus/transports/redis-stream-keys.js";
import { servicesKey } from "../lib/discovery/keys.js";
import { replaysKey } from "../lib/bus/transports/redis-stream-keys.js";
import { reservationKey } from "../services/inventory/keys.js";
import { deadlineIndexKey, deadlinePositionsKey, ORDER_TAG } from "../services/order/keys.js";
import { dueKey } from "../services/shipping/keys.js";
import { byOrderKey } from "../services/notification/keys.js";
import { validationKey } from "../services/user/keys.js";
import { describeWithRedis } from "../test-support/redis.js";
import { scanKeys } from "./key-scan.js";

describeWithRedis("key scan", (getRedis) => {
  const limits = (now: number) => ({
    streamRetentionMs: 60_000,
    dlqAuditRetentionMs: 60_000,
    markerTtlMs: 60_000,
    heartbeatIntervalMs: 1_000,
    slackMs: 1_000,
    groupLagMs: 1_000,
    pendingMaxAgeMs: 60_000,
    overdueMs: 1_000,
    now,
  });
  const YEAR_MS = 365 * 86_400_000;

  it("names keys of no family and transient keys without their bound, and passes bounded ones", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    await redis.set("stray", "1");
    await redis.set(validationKey("o1"), "1");
    await redis.set(validationKey("o2"), "1", "PX", 60_000);
    await redis.hset(reservationKey("held"), "state", "reserved");
    await redis.hset(reservationKey("settled"), "state", "committed");
    const scan = await scanKeys(redis, limits(Date.now()), { bytes: true });
    expect(scan.unknown).toEqual(["stray"]);
    expect(scan.violations.sort()).toEqual([
      `${reservationKey("settled")}: no TTL ({inventory}:reservation:<orderId>)`,
      `${validationKey("o1")}: no TTL ({user}:validated:<orderId>)`,
    ]);
    expect(scan.usage.get("{user}:validated:<orderId>")).toMatchObject({ keys: 2 });
    expect(scan.usage.get("{user}:validated:<orderId>")?.bytes).toBeGreaterThan(0);
  });

  it("flags a TTL longer than its family's documented bound, and passes one within it", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    await redis.set(validationKey("decade"), "1", "PX", 10 * YEAR_MS);
    await redis.set(validationKey("ok"), "1", "PX", 60_000);
    await redis.hset(reservationKey("settled-decade"), "state", "committed");
    await redis.pexpire(reservationKey("settled-decade"), 10 * YEAR_MS);
    const scan = await scanKeys(redis, limits(Date.now()));
    expect(scan.violations.sort()).toEqual([
      expect.stringMatching(
        /^\{inventory\}:reservation:settled-decade: TTL \d{12} ms over its bound of 60000 ms/,
      ),
      expect.stringMatching(/^\{user\}:validated:decade: TTL \d{12} ms over its bound of 60000 ms/),
    ]);
  });

  it("flags a collection key with more members than its family documents", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const services = Array.from({ length: 8 }, (_, n) => `service-${n}`);
    await redis.sadd(servicesKey(), ...services);
    await redis.zadd(byOrderKey("o-few"), 1, "a", 2, "b");
    await redis.zadd(byOrderKey("o-many"), ...Array.from({ length: 13 }, (_, n) => [n, `n${n}`]).flat());
    const scan = await scanKeys(redis, limits(Date.now()));
    expect(scan.violations.sort()).toEqual([
      `${servicesKey()}: 8 members, at most 7 ({discovery}:services)`,
      `${byOrderKey("o-many")}: 13 members, at most 12 ({notification}:by-order:<orderId>)`,
    ]);
  });

  it("flags a stream holding what every group handled, or old entries no group reads", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const read = eventStreamKey("order", "payment.requested");
    const unread = eventStreamKey("order", "order.placed");
    for (let n = 1; n <= 3; n++) await redis.xadd(read, `${10_000 + n}-0`, "b", "x");
    await redis.xadd(read, "20000-0", "b", "x");
    await redis.xgroup("CREATE", read, "payment", "0");
    await redis.xreadgroup("GROUP", "payment", "c", "STREAMS", read, ">");
    await redis.xack(read, "payment", "10001-0", "10002-0", "10003-0", "20000-0");
    await redis.xadd(unread, "10000-0", "b", "x");
    const flagged = await scanKeys(redis, limits(100_000));
    expect(flagged.violations).toHaveLength(2);
    await redis.xtrim(read, "MINID", "20001");
    await redis.xtrim(unread, "MINID", "50000");
    expect((await scanKeys(redis, limits(100_000))).violations).toEqual([]);
  });

  it("survives a group whose pending list empties between XINFO and XPENDING (acked mid-scan)", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const key = eventStreamKey("order", "payment.requested");
    await redis.xadd(key, "10001-0", "b", "x");
    await redis.xadd(key, "20000-0", "b", "x");
    await redis.xgroup("CREATE", key, "payment", "0");
    await redis.xreadgroup("GROUP", "payment", "c", "STREAMS", key, ">");
    await redis.xack(key, "payment", "10001-0", "20000-0");
    // XINFO as it was a moment before the ack: one entry pending.
    const racing = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop !== "xinfo") return Reflect.get(target, prop, receiver);
        return async (_sub: "GROUPS", key: string) => {
          const groups = (await target.xinfo("GROUPS", key)) as unknown[][];
          return groups.map((g) => g.map((v, i) => (g[i - 1] === "pending" ? 1 : v)));
        };
      },
    });
    const scan = await scanKeys(racing, limits(100_000));
    expect(scan.violations).toEqual([
      `${key}: entries every group has handled are not trimmed (first 10001-0, needed from 20000-1)`,
    ]);
  });

  it("survives a group destroyed under it, and reports a key recreated with another type under it", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const destroyed = eventStreamKey("order", "payment.requested");
    const retyped = eventStreamKey("order", "order.placed");
    await redis.xadd(destroyed, "10001-0", "b", "x");
    await redis.xgroup("CREATE", destroyed, "payment", "0");
    await redis.xadd(retyped, "10001-0", "b", "x");
    // Between SCAN and the reads: the group goes (XPENDING: NOGROUP), the stream becomes a string
    // (XRANGE: WRONGTYPE); a reservation is a string (TYPE says so).
    await redis.set(reservationKey("retyped"), "x", "PX", 60_000);
    const racing = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop === "xinfo") {
          return async (sub: "GROUPS", key: string) => {
            const groups = await target.xinfo(sub, key);
            await target.xgroup("DESTROY", key, "payment");
            return groups;
          };
        }
        if (prop === "xrange") {
          return async (key: string, ...rest: [string, string, "COUNT", number]) => {
            if (key === retyped) {
              await target.del(key);
              await target.set(key, "now a string");
            }
            return target.xrange(key, ...rest);
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const scan = await scanKeys(racing, limits(100_000), { bytes: true });
    // The group destroyed mid-scan is within its bound; the keys of another type are reported.
    expect(scan.violations.sort()).toEqual([
      `${reservationKey("retyped")}: a string, but {inventory}:reservation:<orderId> is a hash family`,
      `${retyped}: a key of another type, but {<owner>}:ev:<event> is a stream family`,
    ]);
  });

  it("counts a key SCAN returns twice (a rehash while it walks) once", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    await redis.sadd(servicesKey(), "order");
    const twice = new Proxy(redis, {
      get(target, prop, receiver) {
        if (prop !== "scan") return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<typeof target.scan>) => {
          const [cursor, keys] = await target.scan(...args);
          return [cursor, [...keys, ...keys]];
        };
      },
    });
    const scan = await scanKeys(twice, limits(Date.now()));
    expect(scan.usage.get("{discovery}:services")?.keys).toBe(1);
    expect(scan.violations).toEqual([]);
  });

  it("reports a key of the wrong type for its family, which it used to skip as vanished", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const stream = eventStreamKey("order", "order.placed");
    await redis.set(stream, "not a stream");
    await redis.hset(validationKey("o-hash"), "f", "v");
    await redis.sadd(reservationKey("o-set"), "reserved");
    await redis.set(validationKey("o-ok"), "1", "PX", 60_000);
    const scan = await scanKeys(redis, limits(Date.now()), { bytes: true });
    expect(scan.violations.sort()).toEqual([
      `${reservationKey("o-set")}: a set, but {inventory}:reservation:<orderId> is a hash family`,
      `${stream}: a string, but {<owner>}:ev:<event> is a stream family`,
      `${validationKey("o-hash")}: a hash, but {user}:validated:<orderId> is a string family`,
    ]);
  });

  it("flags members of a due index overdue past their grace (stuck: the index grows), passes due ones", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const now = Date.now();
    const deadlines = deadlineIndexKey(ORDER_TAG, "order-deadlines-v1");
    await redis.zadd(deadlines, now - 600_000, "o-stuck", now + 60_000, "o-live");
    await redis.hset(
      deadlinePositionsKey(ORDER_TAG, "order-deadlines-v1"),
      "o-stuck",
      "1-0",
      "o-live",
      "2-0",
    );
    await redis.zadd(dueKey(), now - 600_000, "s-stuck", now - 100, "s-just-due");
    const scan = await scanKeys(redis, limits(now));
    expect(scan.violations.sort()).toEqual([
      expect.stringMatching(/^\{order\}:order-deadlines-v1:due: 1 member\(s\) overdue .*o-stuck/),
      expect.stringMatching(/^\{shipping\}:due: 1 member\(s\) overdue .*s-stuck/),
    ]);
  });

  it("flags deadline positions whose order left the due index (left behind), passes matching ones", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const now = Date.now();
    const deadlines = deadlineIndexKey(ORDER_TAG, "order-deadlines-v1");
    const positions = deadlinePositionsKey(ORDER_TAG, "order-deadlines-v1");
    await redis.zadd(deadlines, now + 60_000, "o-live");
    await redis.hset(positions, "o-live", "1-0", "o-ended-1", "2-0", "o-ended-2", "3-0");
    const scan = await scanKeys(redis, limits(now));
    expect(scan.violations).toEqual([
      `${positions}: 2 field(s) not in ${deadlines} (e.g. o-ended-1): left behind ({order}:<projection>:pos)`,
    ]);
    await redis.hdel(positions, "o-ended-1", "o-ended-2");
    expect((await scanKeys(redis, limits(now))).violations).toEqual([]);
  });

  it("flags DLQ replay ids a group keeps past their dedupe window", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const now = Date.now();
    await redis.zadd(replaysKey("payment"), now - 3 * 86_400_000, "r-old", now - 1_000, "r-new");
    await redis.pexpire(replaysKey("payment"), 60_000);
    const scan = await scanKeys(redis, limits(now));
    expect(scan.violations).toEqual([
      expect.stringMatching(/^\{payment\}:replays: 1 member\(s\) older than 172800000 ms \(e\.g\. r-old/),
    ]);
  });

  it("flags a consumer group that never reads (its stream grows behind it), passes one that keeps up", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const idle = eventStreamKey("order", "payment.requested");
    const busy = eventStreamKey("order", "inventory.reserve.requested");
    for (const key of [idle, busy]) {
      await redis.xgroup("CREATE", key, "g", "0", "MKSTREAM");
      for (let n = 1; n <= 3; n++) await redis.xadd(key, `${50_000 + n}-0`, "b", "x");
    }
    await redis.xreadgroup("GROUP", "g", "c", "STREAMS", busy, ">");
    await redis.xack(busy, "g", "50001-0", "50002-0", "50003-0");
    await redis.xtrim(busy, "MINID", "50004");
    const scan = await scanKeys(redis, limits(100_000));
    expect(scan.violations).toEqual([
      `${idle}: group g has not read entry 50001-0 for 50 s (it pins every later entry)`,
    ]);
  });

  it("flags an entry pending past the must-complete window (it pins the stream)", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const key = eventStreamKey("order", "payment.requested");
    await redis.xgroup("CREATE", key, "payment", "0", "MKSTREAM");
    await redis.xadd(key, "10000-0", "b", "x");
    await redis.xadd(key, "150000-0", "b", "x");
    await redis.xreadgroup("GROUP", "payment", "c", "STREAMS", key, ">");
    await redis.xack(key, "payment", "150000-0");
    // now 200 s: the entry of 10 s has been pending 190 s, over the 60 s window (+1 s slack).
    expect((await scanKeys(redis, limits(200_000))).violations).toEqual([
      `${key}: group payment holds entry 10000-0 pending for 190 s, past the must-complete window (it pins the stream)`,
    ]);
    // Within the window it is not flagged.
    expect((await scanKeys(redis, limits(65_000))).violations).toEqual([]);
  });
});
