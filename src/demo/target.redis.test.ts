/** Where the demo's own system goes in a Redis (issue 10 follow-up, finding 10): the URL's database when it is free. */
import { createServer } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { Redis } from "ioredis";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { afterEach, expect, it } from "vitest";
import { describeWithRedis } from "../test-support/redis.js";
import { claimEmptyDatabase, demoTarget, findRunningGateway, GatewayNotAnsweringError } from "./target.js";

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
    const lines: string[] = [];
    const attempt = demoTarget({
      redisUrl: url,
      startTimeoutMs: 200,
      onDeath: () => {},
      onStarting: (line) => lines.push(line),
    });
    await expect(attempt).rejects.toThrow(
      /^the system did not start within 0\.2 s: on a loaded machine, raise DEMO_START_TIMEOUT_MS \(ms\)/,
    );
    // newuser16 F4: a line as it starts, not seconds of silence while seven processes start.
    expect(lines).toEqual([
      expect.stringMatching(
        /^No system runs over redis:\/\/.*: starting the demo's own .*up to 0\.2 s, DEMO_START_TIMEOUT_MS/,
      ),
    ]);
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

  it("tells a registered gateway that does not answer in time from none at all (newuser14 F3)", async () => {
    const db = 7;
    const redisUrl = withDb(getRedis().url, db);
    used.push(redisUrl);
    const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
    // Accepts connections and never answers: a frozen or overloaded gateway.
    const sockets: Socket[] = [];
    const silent = createTcpServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const register = (instanceId: string, port: number) => {
      const now = new Date().toISOString();
      return new RedisServiceRegistry({ redis }).register(
        {
          service: "gateway",
          instanceId,
          address: "127.0.0.1",
          port,
          version: "test",
          startedAt: now,
          lastHeartbeat: now,
          status: "healthy",
          consecutiveFailures: 0,
        },
        120_000,
      );
    };
    try {
      // A dead system's entry (its port closed): no gateway, as before.
      const closed = createTcpServer();
      await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
      const closedPort = (closed.address() as { port: number }).port;
      await new Promise((resolve) => closed.close(resolve));
      await register("gateway-dead", closedPort);
      expect(await findRunningGateway(redisUrl, 5_000, 500)).toBeUndefined();

      const silentPort = (silent.address() as { port: number }).port;
      await register("gateway-silent", silentPort);
      const error = await findRunningGateway(redisUrl, 5_000, 500).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GatewayNotAnsweringError);
      expect((error as Error).message).toContain(`http://127.0.0.1:${silentPort}`);
      expect((error as Error).message).toMatch(/did not answer \/health within 0\.5 s/);
      // A gateway that answers 503 (up, degraded: its Redis slow) is the running system (break30 F5),
      // found at once though the silent one would hold its probe 60 s (break30 F2).
      const degraded = createServer((_req, res) => res.writeHead(503).end("{}"));
      await new Promise<void>((resolve) => degraded.listen(0, "127.0.0.1", resolve));
      const degradedPort = (degraded.address() as { port: number }).port;
      await register("gateway-degraded", degradedPort);
      try {
        expect(await findRunningGateway(redisUrl, 5_000, 60_000)).toBe(`http://127.0.0.1:${degradedPort}`);
      } finally {
        await new RedisServiceRegistry({ redis }).deregister("gateway", "gateway-degraded");
        await new Promise((resolve) => degraded.close(resolve));
      }
      // The demo does not start a second system beside it.
      await expect(demoTarget({ redisUrl, onDeath: () => {} })).rejects.toBeInstanceOf(
        GatewayNotAnsweringError,
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      redis.disconnect();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 60_000);
});
