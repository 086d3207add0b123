/**
 * A configuration mistake at start (issue 10 follow-up, new-user findings 2 and 3), with real
 * processes: every entry point (a service, the gateway, `npm start`, `npm run start:services`) says
 * what is wrong in one line, exits non-zero, prints no stack trace, and the launcher's reason is
 * that line. A REDIS_URL naming a database the server does not have is refused at start instead of
 * running in database 0.
 */
import { afterEach, describe, expect, it } from "vitest";
import { type ChildRun, exitWithin, killRuns, runEntryPoint } from "../test-support/child-run.js";
import { describeWithRedis, UNREACHABLE_PORT } from "../test-support/redis.js";

const run = (main: string, args: string[], env: Record<string, string>): ChildRun =>
  runEntryPoint(main, args, { LOG_LEVEL: "info", REDIS_CONNECT_TIMEOUT_MS: "3000", ...env });

afterEach(killRuns);

// Processes boot tsx (seconds on a loaded machine; the launcher boots seven).
const BOUND_MS = 90_000;
const TEST_MS = 120_000;
const noStackTrace = (text: string) => {
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/Node\.js v\d+/);
  expect(text).not.toContain("code: 'INVALID_CONFIG'");
};

describe("a bad variable at start: one line, exit 1, no stack trace", () => {
  it(
    "the gateway, GATEWAY_PORT=abc",
    async () => {
      const r = run("src/gateway/main.ts", [], { GATEWAY_PORT: "abc" });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(/^gateway could not start: Invalid configuration: GATEWAY_PORT: .+$/m);
      noStackTrace(r.output());
    },
    TEST_MS,
  );

  it(
    "the gateway, a short GATEWAY_SHARED_SECRET",
    async () => {
      const r = run("src/gateway/main.ts", [], { GATEWAY_PORT: "0", GATEWAY_SHARED_SECRET: "short" });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(/^gateway could not start: Invalid configuration: GATEWAY_SHARED_SECRET: /m);
      noStackTrace(r.output());
    },
    TEST_MS,
  );

  it(
    "the gateway, OTLP over gRPC (not supported)",
    async () => {
      const r = run("src/gateway/main.ts", [], {
        GATEWAY_PORT: "0",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:1",
        OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(
        /^gateway could not start: Invalid configuration: OTEL_EXPORTER_OTLP_PROTOCOL: unsupported OTLP protocol "grpc"/m,
      );
      noStackTrace(r.output());
    },
    TEST_MS,
  );

  it(
    "npm start over Redis, REDIS_CONNECT_TIMEOUT_MS past the longest timer: the services' line, before Redis is asked",
    async () => {
      // Nothing listens there: a probe armed with the bad value would report Redis unreachable.
      const env = {
        REDIS_URL: `redis://127.0.0.1:${UNREACHABLE_PORT}`,
        REDIS_CONNECT_TIMEOUT_MS: "3000000000",
      };
      const npmStart = run("src/system/start-embedded.ts", [], { GATEWAY_PORT: "0", ...env });
      const service = run("src/services/order/main.ts", [], { SERVICE_PORT: "0", ...env });
      expect(await exitWithin(npmStart, BOUND_MS)).toBe(1);
      expect(await exitWithin(service, BOUND_MS)).toBe(1);
      const reason = (text: string) => /could not start: (.+)$/m.exec(text)?.[1];
      expect(reason(service.output())).toMatch(
        /^Invalid configuration: REDIS_CONNECT_TIMEOUT_MS: must be at most/,
      );
      expect(reason(npmStart.output())).toBe(reason(service.output()));
      noStackTrace(npmStart.output());
    },
    TEST_MS,
  );

  it(
    "npm start, a short GATEWAY_SHARED_SECRET",
    async () => {
      const r = run("src/system/start-embedded.ts", [], {
        GATEWAY_PORT: "0",
        GATEWAY_SHARED_SECRET: "short",
      });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(
        /^Ordersaga could not start: Invalid configuration: GATEWAY_SHARED_SECRET: /m,
      );
      noStackTrace(r.output());
    },
    TEST_MS,
  );

  // newuser11 F1: npm start accepted any SERVICE_PORT and silently ignored it.
  it(
    "npm start, SERVICE_PORT=abc",
    async () => {
      const r = run("src/system/start-embedded.ts", [], { GATEWAY_PORT: "0", SERVICE_PORT: "abc" });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(
        /^Ordersaga could not start: Invalid configuration: SERVICE_PORT: must be a whole number \(got "abc"\)$/m,
      );
      noStackTrace(r.output());
    },
    TEST_MS,
  );

  it(
    "npm start, a bad retention variable",
    async () => {
      const r = run("src/system/start-embedded.ts", [], { GATEWAY_PORT: "0", MARKER_TTL_MS: "soon" });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(/^Ordersaga could not start: Invalid configuration: MARKER_TTL_MS: /m);
      noStackTrace(r.output());
    },
    TEST_MS,
  );

  it(
    "npm start with REDIS_URL= (empty) is the in-memory system, as unset",
    async () => {
      const r = run("src/system/start-embedded.ts", [], { GATEWAY_PORT: "0", REDIS_URL: "" });
      try {
        const up = await Promise.race([
          new Promise<true>((resolve) => {
            const timer = setInterval(() => {
              if (/Ordersaga is up \(memory mode\)/.test(r.output())) {
                clearInterval(timer);
                resolve(true);
              }
            }, 100);
          }),
          r.exited.then(() => false as const),
        ]);
        expect(up, r.output()).toBe(true);
        expect(r.output()).not.toContain("Invalid URL");
      } finally {
        if (r.child.pid !== undefined) process.kill(-r.child.pid, "SIGTERM");
      }
    },
    TEST_MS,
  );
});

describeWithRedis("npm run start:services with a bad gateway variable", (getRedis) => {
  it(
    "the launcher names the gateway's one-line config error as its reason",
    async () => {
      const r = run("src/system/start-services.ts", ["--any-port"], {
        REDIS_URL: getRedis().url,
        GATEWAY_SHARED_SECRET: "short",
      });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toMatch(
        /Ordersaga could not start:\n(?: {2}\S+: .+\n)* {2}gateway: Invalid configuration: GATEWAY_SHARED_SECRET: [^\n]+\n/,
      );
      noStackTrace(r.output());
    },
    TEST_MS,
  );
});

describeWithRedis("REDIS_URL naming a database the server does not have", (getRedis) => {
  const db99 = () => `${getRedis().url.replace(/\/\d*$/, "")}/99`;

  it.each([
    ["a service", "src/services/user/main.ts", "user", { SERVICE_PORT: "0" }],
    ["the gateway", "src/gateway/main.ts", "gateway", { GATEWAY_PORT: "0" }],
    ["npm start", "src/system/start-embedded.ts", "Ordersaga", { GATEWAY_PORT: "0" }],
  ] as const)(
    "%s refuses to start, naming Redis's answer",
    async (_what, main, name, env) => {
      await getRedis().flush();
      const r = run(main, [], { ...env, REDIS_URL: db99() });
      expect(await exitWithin(r, BOUND_MS)).toBe(1);
      expect(r.output()).toContain(
        `${name} could not start: Redis refused the connection (ERR DB index is out of range)`,
      );
      // Nothing of it landed in database 0.
      expect(await getRedis().client().dbsize()).toBe(0);
    },
    TEST_MS,
  );
});
