import type { Redis } from "ioredis";
import { beforeAll, describe, expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { deadLetterKeys } from "./keys.js";
import { RedisDeadLetterStore } from "./redis-dead-letter-store.js";
import { runDeadLetterStoreContract, sampleDeadLetter } from "./store-contract.js";

const at = (minute: number): string => new Date(Date.UTC(2025, 0, 1, 12, minute)).toISOString();

describeWithRedis("RedisDeadLetterStore", (getRedis) => {
  let redis: Redis;
  beforeAll(() => {
    redis = getRedis().client();
  });

  // A page size of 2 makes listing and audit reads cross page boundaries in the shared suite.
  runDeadLetterStoreContract("redis", async (options) => {
    await redis.flushall();
    return new RedisDeadLetterStore(redis, { pageSize: 2, ...options });
  });

  describe("oldest (a bulk run's walk)", () => {
    it("a purge between the cursor's ties and the page skips no record (break18 F5)", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      // Nine records of one millisecond; the walk is at r2 when another operator purges r0.
      for (let i = 0; i < 9; i++) await store.add(sampleDeadLetter(`r${i}`, 0));
      const first = await store.oldest(undefined, 3);
      expect(first.map((e) => e.entry.id)).toEqual(["r0", "r1", "r2"]);
      const other = new RedisDeadLetterStore(getRedis().client());
      const reads = redis.zrangebyscore.bind(redis);
      let purged = false;
      // Any read of the index the walk makes first lets the purge land before the next one.
      const spied = Object.assign(Object.create(redis) as Redis, {
        zrangebyscore: async (...args: Parameters<Redis["zrangebyscore"]>) => {
          const out = await reads(...args);
          if (!purged) {
            purged = true;
            await other.remove(["r0"]);
          }
          return out;
        },
      });
      const walking = new RedisDeadLetterStore(spied);
      const next = await walking.oldest(first.at(-1)!.entry, 3);
      expect(next.map((e) => e.entry.id)).toEqual(["r3", "r4", "r5"]);
    });

    it("orders a millisecond's ties by byte order, whatever the server's collation", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      const ids = ["B", "a", "_", "Z", "a-1", "a_1"];
      for (const id of ids) await store.add(sampleDeadLetter(id, 0));
      const walked: string[] = [];
      let after: Parameters<RedisDeadLetterStore["oldest"]>[0];
      for (;;) {
        const page = await store.oldest(after, 1);
        if (page.length === 0) break;
        walked.push(page[0]!.entry.id);
        after = page[0]!.entry;
      }
      expect(walked).toEqual([...ids].sort());
    });
  });

  describe("what a service's Redis user may plant (break25 F1, F2)", () => {
    const keys = deadLetterKeys();
    it("reads past a malformed record, a ghost entry and a foreign one, dropping their entries once", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis, { pageSize: 2 });
      const skips: string[] = [];
      store.onSkip(({ id, reason }) => skips.push(`${reason}:${id}`));
      await store.add(sampleDeadLetter("a", 1));
      await store.add(sampleDeadLetter("b", 2));
      await redis.hset(keys.record("m"), "data", "{}", "status", "dead", "retries", "0");
      await redis.hset(
        keys.record("s"),
        "data",
        JSON.stringify({ ...sampleDeadLetter("s", 3), status: undefined }),
        "status",
        "bogus",
      );
      await redis.hset(
        keys.record("f"),
        "data",
        JSON.stringify(sampleDeadLetter("other", 3)),
        "status",
        "dead",
      );
      for (const id of ["m", "s", "f", "ghost"]) await redis.zadd(keys.index, Date.parse(at(3)), id);
      expect((await store.list()).map((r) => r.id)).toEqual(["b", "a"]);
      expect(skips.sort()).toEqual(["foreign:f", "malformed:m", "malformed:s", "missing:ghost"]);
      expect(await redis.zrange(keys.index, 0, -1)).toEqual(["a", "b"]);
      expect((await store.page({}, { limit: 10 })).records.map((r) => r.id)).toEqual(["b", "a"]);
      expect((await store.oldest(undefined, 10)).map((e) => e.record?.id)).toEqual(["a", "b"]);
      expect(skips).toHaveLength(4);
      await expect(store.get("m")).rejects.toMatchObject({ code: "DLQ_MALFORMED" });
      await expect(store.get("s")).rejects.toMatchObject({ code: "DLQ_MALFORMED" });
      expect(await store.get("f")).toBeUndefined();
    });

    it("sets a re-dated entry back to its record's own time when a read meets it", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      await store.add(sampleDeadLetter("a", 1));
      await redis.zadd(keys.index, 1000, "a");
      expect((await store.oldest(undefined, 10)).map((e) => e.record?.id)).toEqual(["a"]);
      expect(Number(await redis.zscore(keys.index, "a"))).toBe(Date.parse(at(1)));
    });

    it("purges by id whatever is stored under it, and drops a ghost's entry without auditing", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      await redis.hset(keys.record("m"), "status", "bogus");
      await redis.zadd(keys.index, 5, "m", 6, "ghost");
      const entry = (id: string) => ({ at: at(9), recordId: id, action: "purged" as const, actor: "ops" });
      expect(await store.purge([{ audit: entry("m") }, { audit: entry("ghost") }])).toEqual([true, false]);
      expect((await redis.keys("*")).sort()).toEqual(["{dlq}:audit", "{dlq}:audit:m"]);
      expect((await store.audit()).map((e) => e.recordId)).toEqual(["m"]);
    });
  });

  describe("Redis layout", () => {
    it("keeps every key under the {dlq} hash tag", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      await store.add(sampleDeadLetter("a", 1));
      await store.appendAudit({
        at: "2025-01-01T12:01:00.000Z",
        recordId: "a",
        action: "retried",
        actor: "x",
      });
      const keys = (await redis.keys("*")).sort();
      expect(keys).toEqual(["{dlq}:audit", "{dlq}:audit:a", "{dlq}:idx", "{dlq}:rec:a"]);
    });

    it("inspects one record's audit trail without reading the whole trail", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis, { pageSize: 50 });
      const at = "2025-01-01T12:01:00.000Z";
      for (let i = 0; i < 500; i++)
        await store.appendAudit({ at, recordId: `other-${i}`, action: "dead-lettered", actor: "c" });
      await store.appendAudit({ at, recordId: "a", action: "retried", actor: "ops" });
      await redis.config("RESETSTAT");
      expect((await store.audit("a")).map((e) => e.action)).toEqual(["retried"]);
      const stats = await redis.info("commandstats");
      // One list read (and the newest trail entry, for the window), never a walk of the trail.
      expect(stats).not.toMatch(/cmdstat_xrange:/);
      expect(stats).not.toMatch(/cmdstat_xread:/);
    });

    it("lets a record's own audit trail expire with the retention window", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis, { auditRetentionMs: 60_000 });
      await store.appendAudit({ at: new Date().toISOString(), recordId: "a", action: "retried", actor: "o" });
      const ttl = await redis.pttl(deadLetterKeys().auditOf("a"));
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    });

    it("numbers and trims the trail on Redis's clock: a writer a day ahead does not stop the trim", async () => {
      await redis.flushall();
      const windowMs = 300;
      const store = new RedisDeadLetterStore(redis, { auditRetentionMs: windowMs });
      const entry = (at: number, recordId: string) => ({
        at: new Date(at).toISOString(),
        recordId,
        action: "retried" as const,
        actor: "ops",
      });
      const redisNow = async () => {
        const [seconds, micros] = await redis.time();
        return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      };
      await store.appendAudit(entry(Date.now() + 86_400_000, "b"));
      const [newest] = await redis.xrevrange(deadLetterKeys().audit, "+", "-", "COUNT", 1);
      const written = await redisNow();
      // The id is Redis's time, not the writer's (break-11 F1: it was a day ahead, and so was every
      // later id, so nothing was trimmed for a day).
      expect(Number(newest?.[0].split("-")[0])).toBeLessThanOrEqual(written);
      await waitFor(async () => (await redisNow()) > written + windowMs + 50, 10_000, "the window to pass");
      await store.appendAudit(entry(Date.now(), "c"));
      expect((await store.audit()).map((e) => e.recordId)).toEqual(["c"]);
      expect(await redis.xlen(deadLetterKeys().audit)).toBe(1);
      expect(await store.audit("b")).toEqual([]);
    });

    it("keeps two tags apart on one server", async () => {
      await redis.flushall();
      const blue = new RedisDeadLetterStore(redis, { tag: "dlq-blue" });
      const green = new RedisDeadLetterStore(redis, { tag: "dlq-green" });
      await blue.add(sampleDeadLetter("a", 1));
      expect(await green.get("a")).toBeUndefined();
      expect(await redis.exists(deadLetterKeys("dlq-blue").record("a"))).toBe(1);
    });

    it("loads its scripts again after the server forgot them", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      await store.add(sampleDeadLetter("a", 1));
      await redis.script("FLUSH");
      expect(await store.add(sampleDeadLetter("b", 2))).toBe(true);
      expect(await store.update("b", { status: "retried", retries: 1 })).toBe(true);
      expect((await store.list()).map((r) => r.id)).toEqual(["b", "a"]);
    });

    it("rejects a record whose deadLetteredAt is not a date, writing nothing", async () => {
      await redis.flushall();
      const store = new RedisDeadLetterStore(redis);
      await expect(
        store.add(sampleDeadLetter("a", 1, { deadLetteredAt: "yesterday" })),
      ).rejects.toMatchObject({
        code: "DLQ_INVALID",
      });
      expect(await redis.dbsize()).toBe(0);
    });
  });
});
