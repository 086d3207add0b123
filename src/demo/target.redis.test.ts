/** Where the demo's own system goes in a Redis (issue 10 follow-up, finding 10): the URL's database when it is free. */
import { createServer } from "node:http";
import { Redis } from "ioredis";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { afterEach, expect, it } from "vitest";
import { describeWithRedis } from "../test-support/redis.js";
import { claimEmptyDatabase, demoTarget } from "./target.js";

const withDb = (url: string, db: number) => {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
};

describeWithRedis("the demo's database", (getRedis) => {
  const used: string[] = [];
  afterEach(async () => {
    for (const url of used.splice(0)) {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 });
      await redis.flushdb();
      redis.disconnect();
    }
  });

  it("runs in the database REDIS_URL names when that one is empty", async () => {
    const url = withDb(getRedis().url, 3);
    const claim = await claimEmptyDatabase(url);
    used.push(claim.url);
    expect(claim.db).toBe(3);
    expect(claim.note).toBeUndefined();
  });

  // newuser11 F5: a fixed 60 s, neither configurable nor named.
  it("gives its own system the start time it is given, then names the variable and frees the database", async () => {
    const url = withDb(getRedis().url, 5);
    const started = Date.now();
    const attempt = demoTarget({ redisUrl: url, startTimeoutMs: 200, onDeath: () => {} });
    await expect(attempt).rejects.toThrow(
      /^the system did not start within 0\.2 s: on a loaded machine, raise DEMO_START_TIMEOUT_MS \(ms\)/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    expect(await redis.dbsize()).toBe(0);
    redis.disconnect();
  }, 60_000);

  it("says why it runs elsewhere when the named database holds data", async () => {
    const url = withDb(getRedis().url, 4);
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    await redis.set("someone:else", "1");
    redis.disconnect();
    used.push(url);
    const claim = await claimEmptyDatabase(url);
    used.push(claim.url);
    expect(claim.db).not.toBe(4);
    expect(claim.note).toMatch(/database 4 .*holds 1 key/);
  });

  // newuser14 F1: "the system already running over redis://ops:<password>@..." in clear.
  it("names the running system's Redis with its password as ***", async () => {
    const url = new URL(withDb(getRedis().url, 6));
    // The test Redis's default user has no password: it takes any (AUTH default <anything>).
    url.username = "default";
    url.password = "s3cret-pw";
    const server = createServer((_req, res) => res.writeHead(200).end("{}"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const redis = new Redis(withDb(getRedis().url, 6), { maxRetriesPerRequest: 1 });
    used.push(withDb(getRedis().url, 6));
    try {
      const now = new Date().toISOString();
      await new RedisServiceRegistry({ redis }).register(
        {
          service: "gateway",
          instanceId: "gateway-test",
          address: "127.0.0.1",
          port: (server.address() as { port: number }).port,
          version: "test",
          startedAt: now,
          lastHeartbeat: now,
          status: "healthy",
          consecutiveFailures: 0,
        },
        120_000,
      );
      const target = await demoTarget({ redisUrl: url.toString(), onDeath: () => {} });
      url.password = "***";
      expect(target.mode).toBe(
        `the system already running over ${url.toString()} (its gateway found in the registry)`,
      );
      expect(target.mode).not.toContain("s3cret-pw");
    } finally {
      redis.disconnect();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
