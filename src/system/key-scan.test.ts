import { expect, it } from "vitest";
import { eventStreamKey } from "../lib/bus/transports/redis-stream-keys.js";
import { servicesKey } from "../lib/discovery/keys.js";
import { reservationKey } from "../services/inventory/keys.js";
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

  it("survives keys that change under it: a group destroyed, a key recreated with another type", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const destroyed = eventStreamKey("order", "payment.requested");
    const retyped = eventStreamKey("order", "order.placed");
    await redis.xadd(destroyed, "10001-0", "b", "x");
    await redis.xgroup("CREATE", destroyed, "payment", "0");
    await redis.xadd(retyped, "10001-0", "b", "x");
    // Between SCAN and the reads: the group goes (XPENDING: NOGROUP), the stream becomes a string
    // (XRANGE: WRONGTYPE), a reservation is a string (HGET: WRONGTYPE in its pipeline).
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
    expect(scan.violations).toEqual([]);
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
});
