/**
 * New-user F8: `npm run trace` against a gateway with API keys says how to give it one. Newuser7 F3:
 * with REDIS_URL and no GATEWAY_URL it finds the running gateway in the registry (as the demo does),
 * wherever it listens, and a gateway it cannot reach is named with fetch's cause and what to set.
 * Newuser9 F3: `--help` is the usage, exit 0 (was exit 2). F14: a malformed REDIS_URL is the one
 * line every entry point gives (was an unhandled `SELECT NaN` ReplyError), and a registry it cannot
 * read, or with no healthy gateway, stops it (exit 1) instead of falling back to localhost:8080.
 */
import { createServer, type Server } from "node:http";
import { Redis } from "ioredis";
import { afterEach, expect, it } from "vitest";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis, UNREACHABLE_PORT } from "../test-support/redis.js";

let server: Server | undefined;
afterEach(async () => {
  killRuns();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
});

it("on a 401 says to set GATEWAY_API_KEY", async () => {
  // A gateway with API keys, as far as this script sees it: every route answers 401.
  server = createServer((_req, res) => {
    res.writeHead(401, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { code: "UNAUTHORIZED", message: "Missing or invalid API key" } }));
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const r = runEntryPoint("scripts/trace.ts", ["o-1"], {
    GATEWAY_URL: `http://127.0.0.1:${port}`,
    GATEWAY_API_KEY: "",
  });
  expect(await exitWithin(r, 45_000)).toBe(1);
  expect(r.output()).toContain("set GATEWAY_API_KEY to one of the gateway's API keys");
}, 60_000);

it("names fetch's cause and says to set GATEWAY_URL when nothing answers", async () => {
  const port = UNREACHABLE_PORT;
  const r = runEntryPoint("scripts/trace.ts", ["o-1"], {
    GATEWAY_URL: `http://127.0.0.1:${port}`,
    REDIS_URL: "",
  });
  expect(await exitWithin(r, 45_000)).toBe(1);
  expect(r.output()).toContain(`cannot reach the gateway at http://127.0.0.1:${port}: fetch failed`);
  expect(r.output()).toMatch(/ECONNREFUSED/);
  expect(r.output()).toMatch(/GATEWAY_URL/);
}, 60_000);

it("--help prints the usage, exit 0", async () => {
  const r = runEntryPoint("scripts/trace.ts", ["--help"], { REDIS_URL: "", GATEWAY_URL: "" });
  expect(await exitWithin(r, 45_000), r.output()).toBe(0);
  expect(r.output()).toMatch(/^usage: npm run trace -- <orderId>/);
}, 60_000);

it("refuses a malformed REDIS_URL in one line naming it, before asking Redis anything", async () => {
  const port = UNREACHABLE_PORT;
  for (const [url, message] of [
    [`redis://127.0.0.1:${port}/abc`, /REDIS_URL: .*whole number.*"abc"/],
    [`http://127.0.0.1:${port}`, /REDIS_URL: .*redis:\/\//],
  ] as const) {
    const r = runEntryPoint("scripts/trace.ts", ["o-1"], { REDIS_URL: url, GATEWAY_URL: "" });
    expect(await exitWithin(r, 45_000), r.output()).toBe(1);
    expect(r.output()).toMatch(message);
    expect(r.output().trim().split("\n"), r.output()).toHaveLength(1);
    expect(r.output()).not.toMatch(/ReplyError|ENOENT|\n\s+at /);
  }
}, 120_000);

it("stops when the registry of REDIS_URL cannot be read, instead of trying localhost:8080", async () => {
  const port = UNREACHABLE_PORT;
  const r = runEntryPoint("scripts/trace.ts", ["o-1"], {
    REDIS_URL: `redis://127.0.0.1:${port}`,
    REDIS_CONNECT_TIMEOUT_MS: "2000",
    GATEWAY_URL: "",
  });
  expect(await exitWithin(r, 45_000), r.output()).toBe(1);
  expect(r.output()).toContain(`cannot read the registry of redis://127.0.0.1:${port}`);
  expect(r.output()).toMatch(/set GATEWAY_URL/);
  expect(r.output()).not.toContain("localhost:8080");
}, 60_000);

// newuser14 F1: the password of REDIS_URL was printed in clear.
it("names an unreadable registry's Redis with its password as ***", async () => {
  const port = UNREACHABLE_PORT;
  const r = runEntryPoint("scripts/trace.ts", ["o-1"], {
    REDIS_URL: `redis://ops:s3cret-pw@127.0.0.1:${port}`,
    REDIS_CONNECT_TIMEOUT_MS: "2000",
    GATEWAY_URL: "",
  });
  expect(await exitWithin(r, 45_000), r.output()).toBe(1);
  expect(r.output()).toContain(`cannot read the registry of redis://ops:***@127.0.0.1:${port}`);
  expect(r.output()).not.toContain("s3cret-pw");
}, 60_000);

describeWithRedis("npm run trace with REDIS_URL", (getRedis) => {
  it("says no gateway is registered, instead of trying localhost:8080", async () => {
    await getRedis().flush();
    const r = runEntryPoint("scripts/trace.ts", ["o-1"], { REDIS_URL: getRedis().url, GATEWAY_URL: "" });
    expect(await exitWithin(r, 45_000), r.output()).toBe(1);
    expect(r.output()).toContain(`no healthy gateway is registered over ${getRedis().url}`);
    expect(r.output()).not.toContain("localhost:8080");
  }, 60_000);

  it("names the Redis with its password as *** when no gateway is registered (newuser14 F1)", async () => {
    await getRedis().flush();
    // The test Redis's default user has no password: it takes any (AUTH default <anything>).
    const url = new URL(getRedis().url);
    url.username = "default";
    url.password = "s3cret-pw";
    const r = runEntryPoint("scripts/trace.ts", ["o-1"], { REDIS_URL: url.toString(), GATEWAY_URL: "" });
    expect(await exitWithin(r, 45_000), r.output()).toBe(1);
    url.password = "***";
    expect(r.output()).toContain(`no healthy gateway is registered over ${url.toString()}`);
    expect(r.output()).not.toContain("s3cret-pw");
  }, 60_000);

  it("finds the running gateway in the registry, not on 8080", async () => {
    // A gateway on a port of its own, registered as the real one registers itself.
    server = createServer((req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        req.url === "/health"
          ? JSON.stringify({ status: "ok" })
          : JSON.stringify({
              orderId: "o-7",
              events: [
                { type: "order.event.created", version: 1, time: "2026-01-01T00:00:00.000Z", data: {} },
              ],
            }),
      );
    });
    await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const redis = new Redis(getRedis().url);
    try {
      const now = new Date().toISOString();
      await new RedisServiceRegistry({ redis }).register(
        {
          service: "gateway",
          instanceId: "gateway-test",
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
      const r = runEntryPoint("scripts/trace.ts", ["o-7"], { REDIS_URL: getRedis().url, GATEWAY_URL: "" });
      expect(await exitWithin(r, 45_000), r.output()).toBe(0);
      expect(r.output()).toContain("order o-7");
      expect(r.output()).toContain("v1 order.event.created");
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
