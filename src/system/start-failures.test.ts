/**
 * What a new user sees when a start cannot succeed (issue 10 follow-up, real processes): Redis
 * unreachable, a port in use. Each entry point names the reason once and exits 1 in bounded time,
 * without a flood of retries; `npm start` reads the gateway's environment like start:gateway.
 */
import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  bannerGateway,
  type ChildRun,
  exitWithin,
  killRuns,
  runEntryPoint,
} from "../test-support/child-run.js";
import { describeWithRedis } from "../test-support/redis.js";
import { UNREACHABLE_PORT } from "../test-support/redis-server.js";
import { waitFor } from "../test-support/wait.js";

const servers: Server[] = [];

const run = (main: string, args: string[], env: Record<string, string>): ChildRun =>
  runEntryPoint(main, args, { LOG_LEVEL: "info", ...env });

/** A loopback URL where nothing listens (a port freed a moment ago may be another file's by now). */
const unreachableRedis = async () => `redis://127.0.0.1:${UNREACHABLE_PORT}`;

async function occupiedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  servers.push(server);
  return (server.address() as { port: number }).port;
}

afterEach(async () => {
  killRuns();
  for (const server of servers.splice(0)) await new Promise((r) => server.close(r));
});

// Processes boot tsx (seconds on a loaded machine); the Redis wait itself is 1 s here.
const BOUND_MS = 45_000;
const fast = { REDIS_CONNECT_TIMEOUT_MS: "1000" };

describe("a start with Redis unreachable", () => {
  it("a service process names the reason once and exits 1", async () => {
    const r = run("src/services/user/main.ts", [], {
      ...fast,
      REDIS_URL: await unreachableRedis(),
      SERVICE_PORT: "0",
    });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(
      /user could not start: Redis is unreachable \(connect ECONNREFUSED 127\.0\.0\.1:\d+\)/,
    );
    expect(r.output()).not.toMatch(/redis connection error/);
  }, 60_000);

  // newuser10 F4: a service's own setting (and its signing keys) was checked only once Redis answered.
  it(
    "a service's own bad setting is reported first, without waiting for Redis",
    async () => {
      const order = run("src/services/order/main.ts", [], {
        REDIS_CONNECT_TIMEOUT_MS: "600000",
        REDIS_URL: await unreachableRedis(),
        SERVICE_PORT: "0",
        SAGA_STEP_TIMEOUT_MS: "1000",
      });
      const keys = run("src/services/user/main.ts", [], {
        REDIS_CONNECT_TIMEOUT_MS: "600000",
        REDIS_URL: await unreachableRedis(),
        SERVICE_PORT: "0",
        BUS_SIGNING_KEYS: "garbage",
      });
      // The Redis wait would take 10 minutes: the setting is read before any connect.
      expect(await exitWithin(order, BOUND_MS)).toBe(1);
      expect(order.output()).toMatch(/order could not start: .*SAGA_STEP_TIMEOUT_MS/);
      expect(order.output()).not.toMatch(/Redis is unreachable/);
      expect(await exitWithin(keys, BOUND_MS)).toBe(1);
      expect(keys.output()).toMatch(/user could not start: BUS_SIGNING_KEYS: key entry/);
      expect(keys.output()).not.toMatch(/Redis is unreachable/);
    },
    2 * BOUND_MS,
  );

  it("the launcher names the process and reason, and exits 1", async () => {
    const r = run("src/system/start-services.ts", ["--any-port"], {
      ...fast,
      REDIS_URL: await unreachableRedis(),
    });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(
      /Ordersaga could not start:\n {2}\S+: Redis is unreachable \(connect ECONNREFUSED/,
    );
    expect(r.output()).not.toMatch(/redis connection error/);
  }, 60_000);

  it("the demo names the reason and exits 1", async () => {
    const r = run("src/demo/main.ts", [], { ...fast, REDIS_URL: await unreachableRedis() });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(/The demo could not start: Redis is unreachable \(connect ECONNREFUSED/);
  }, 60_000);

  // newuser8 L4: an http:// URL was "Redis is unreachable (connect ENOENT //127.0.0.1:...)".
  it("the demo and npm start name REDIS_URL's scheme when it is not redis://", async () => {
    const url = (await unreachableRedis()).replace("redis:", "http:");
    for (const main of ["src/demo/main.ts", "src/system/start-embedded.ts"]) {
      const r = run(main, [], { REDIS_URL: url, GATEWAY_PORT: "0" });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(/could not start: .*REDIS_URL: must start with redis:\/\/ or rediss:\/\//);
    }
  }, 90_000);

  it("npm start over REDIS_URL names the reason and exits 1", async () => {
    const r = run("src/system/start-embedded.ts", [], {
      ...fast,
      REDIS_URL: await unreachableRedis(),
      GATEWAY_PORT: "0",
    });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(/could not start: Redis is unreachable \(connect ECONNREFUSED/);
  }, 60_000);
});

describe("npm start (the embedded system)", () => {
  it("with the gateway port in use says so in one line and exits 1", async () => {
    const port = await occupiedPort();
    const r = run("src/system/start-embedded.ts", [], { GATEWAY_PORT: String(port), LOG_LEVEL: "info" });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toContain(`could not start: port ${port} is already in use`);
    expect(r.output()).not.toMatch(/^\s+at /m); // no stack trace
    // The reason is the last thing printed: no service starts, so none logs after it (newuser10 F3).
    expect(r.output()).not.toContain("service started");
    expect(r.output()).not.toContain("service stopped");
  }, 60_000);

  // newuser8 M2: a host that does not resolve was reported as "Redis is unreachable", in memory mode.
  it("with a GATEWAY_HOST that does not resolve names GATEWAY_HOST, not Redis, and exits 1", async () => {
    const r = run("src/system/start-embedded.ts", [], {
      GATEWAY_PORT: "0",
      GATEWAY_HOST: "no-such-host.invalid",
      REDIS_URL: "",
      LOG_LEVEL: "warn",
    });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toContain(
      "Ordersaga could not start: cannot listen on GATEWAY_HOST=no-such-host.invalid (getaddrinfo",
    );
    expect(r.output()).not.toMatch(/Redis/);
  }, 60_000);

  // New-user F1: a service's bad variable was thrown while the catalog was imported, outside the
  // start's error handling: an uncaught ConfigError with a source excerpt and a stack.
  it("with a bad service variable says so in one line and exits 1", async () => {
    const r = run("src/system/start-embedded.ts", [], {
      GATEWAY_PORT: "0",
      SHIPPING_DELIVERY_DELAY_MS: "abc",
      LOG_LEVEL: "warn",
    });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(/Ordersaga could not start: .*SHIPPING_DELIVERY_DELAY_MS/);
    expect(r.output()).not.toMatch(/^\s+at /m); // no stack trace
  }, 60_000);

  it("the demo names a bad service variable in one line and exits 1", async () => {
    const r = run("src/demo/main.ts", [], { SAGA_STEP_TIMEOUT_MS: "abc" });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(/could not start: .*SAGA_STEP_TIMEOUT_MS/);
    expect(r.output()).not.toMatch(/^\s+at /m);
  }, 60_000);

  it("reads the gateway's environment: GATEWAY_API_KEYS is enforced", async () => {
    const r = run("src/system/start-embedded.ts", [], {
      GATEWAY_PORT: "0",
      GATEWAY_API_KEYS: "k1",
      LOG_LEVEL: "warn",
    });
    const url = await bannerGateway(r, BOUND_MS);
    expect((await fetch(`${url}/inventory`)).status).toBe(401);
    expect((await fetch(`${url}/inventory`, { headers: { "x-api-key": "k1" } })).status).toBe(200);
    expect(r.output()).toContain(`try: curl -H "x-api-key: <one of GATEWAY_API_KEYS>" ${url}/inventory`);
  }, 60_000);

  // New-user finding: the banner came out between the JSON start-up lines (each service's logger
  // wrote in the background on its own stream), and scrolled away.
  it("prints the banner after every start-up line, its lines together and in order", async () => {
    const r = run("src/system/start-embedded.ts", [], { GATEWAY_PORT: "0", LOG_LEVEL: "info" });
    await waitFor(() => /try: curl .*\n/.test(r.output()), BOUND_MS, "the banner", 50);
    const lines = r.output().split("\n");
    const up = lines.findIndex((line) => line.startsWith("Ordersaga is up"));
    expect(lines.slice(up, up + 10).map((line) => line.trim().split(/\s+/)[0])).toEqual([
      "Ordersaga",
      "gateway",
      "user",
      "inventory",
      "payment",
      "shipping",
      "notification",
      "order",
      "metrics",
      "try:",
    ]);
    const started = lines.flatMap((line, index) =>
      /"msg":"(service|gateway) started"/.test(line) ? [index] : [],
    );
    expect(started).toHaveLength(7);
    expect(started.filter((index) => index > up)).toEqual([]);
  }, 60_000);
});

// newuser11 F8: a taken gateway port was found only after six services had started (~35 s).
describeWithRedis("npm run start:services with the gateway's port in use", (getRedis) => {
  it("says so in one line and exits 1 before starting any process", async () => {
    const port = await occupiedPort();
    const r = run("src/system/start-services.ts", ["--any-port"], {
      REDIS_URL: getRedis().url,
      GATEWAY_PORT: String(port),
    });
    expect(await exitWithin(r, BOUND_MS)).toBe(1);
    expect(r.output()).toMatch(
      new RegExp(`Ordersaga could not start:\\n {2}gateway: port ${port} is already in use`),
    );
    // No process started: none logged (their lines are prefixed with their label).
    expect(r.output()).not.toMatch(/^\[(user|order|inventory|payment|shipping|notification|gateway)\b/m);
    expect(r.output()).not.toContain("stopping all services");
  }, 60_000);
});
