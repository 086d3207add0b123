import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, MAX_TIMER_MS, parseEnv, serviceEnvSchema } from "./config.js";

describe("a service process's timer settings (break-gw F3, for the services too)", () => {
  const timers = ["REDIS_CONNECT_TIMEOUT_MS", "HEARTBEAT_INTERVAL_MS", "CLAIM_IDLE_MS"] as const;

  it.each(timers)("refuses %s above the longest timer Node runs, naming the variable", (name) => {
    expect(() => parseEnv(serviceEnvSchema, { [name]: String(MAX_TIMER_MS + 1) })).toThrow(
      new RegExp(`${name}: must be at most ${MAX_TIMER_MS} ms`),
    );
  });

  it.each(timers)("takes %s at the longest timer Node runs", (name) => {
    expect(parseEnv(serviceEnvSchema, { [name]: String(MAX_TIMER_MS) })[name]).toBe(MAX_TIMER_MS);
  });
});

describe("the other settings armed as timers", () => {
  it("refuses STREAM_TRIM_INTERVAL_MS and SHRED_AOF_REWRITE_INTERVAL_MS above the longest timer", async () => {
    const { retentionEnvSchema } = await import("./retention.js");
    const { orderConfigFromEnv } = await import("../../services/order/config.js");
    const over = String(MAX_TIMER_MS + 1);
    expect(() => parseEnv(retentionEnvSchema, { STREAM_TRIM_INTERVAL_MS: over })).toThrow(
      /STREAM_TRIM_INTERVAL_MS: must be at most/,
    );
    expect(() => orderConfigFromEnv({ SHRED_AOF_REWRITE_INTERVAL_MS: over })).toThrow(/must be at most/);
  });

  it("refuses TRACING_SHUTDOWN_TIMEOUT_MS above the longest timer (Tracing.shutdown arms it)", async () => {
    const { tracingShutdownTimeoutMs } = await import("../observability/tracing.js");
    const over = String(MAX_TIMER_MS + 1);
    expect(() => tracingShutdownTimeoutMs({ TRACING_SHUTDOWN_TIMEOUT_MS: over })).toThrow(
      /TRACING_SHUTDOWN_TIMEOUT_MS: must be at most/,
    );
    expect(tracingShutdownTimeoutMs({ TRACING_SHUTDOWN_TIMEOUT_MS: String(MAX_TIMER_MS) })).toBe(
      MAX_TIMER_MS,
    );
  });
});

// newuser8 L4, L5: messages that named the variable but not what was wrong with it.
describe("configuration messages a person can act on", () => {
  const reason = (env: Record<string, string>) => {
    try {
      parseEnv(serviceEnvSchema, env);
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
  };

  it("a REDIS_URL with another scheme says it must be redis:// or rediss://", () => {
    expect(reason({ REDIS_URL: "http://127.0.0.1:6379" })).toBe(
      "Invalid configuration: REDIS_URL: must start with redis:// or rediss:// (got http://): e.g. redis://localhost:6379/0",
    );
    expect(reason({ REDIS_URL: "rediss://cache.example:6380/3" })).toBeUndefined();
  });

  it("a REDIS_URL that is no URL (a password with / not percent-encoded) is refused in one line that does not quote it (break44 F1)", () => {
    const said = reason({ REDIS_URL: "redis://ops:Ab3/dEf+Gh9@localhost:6379/0" });
    expect(said).toMatch(
      /^Invalid configuration: REDIS_URL: is not a URL \(not shown: it may hold a password\)/,
    );
    expect(said).toMatch(/percent-encoded/);
    expect(said).not.toContain("Ab3");
  });

  it("a REDIS_URL database that is not a number says so", () => {
    expect(reason({ REDIS_URL: "redis://127.0.0.1:6379/abc" })).toBe(
      'Invalid configuration: REDIS_URL: the database after the port must be a whole number, as in redis://localhost:6379/2 (got "abc")',
    );
    expect(reason({ REDIS_URL: "redis://127.0.0.1:6379/2" })).toBeUndefined();
  });

  it("a fractional _MS value must be a whole number of ms", () => {
    expect(reason({ BUS_MUST_COMPLETE_WINDOW_MS: "1.5" })).toBe(
      "Invalid configuration: BUS_MUST_COMPLETE_WINDOW_MS: must be a whole number of ms",
    );
    expect(reason({ HEARTBEAT_INTERVAL_MS: "0.5" })).toBe(
      "Invalid configuration: HEARTBEAT_INTERVAL_MS: must be a whole number of ms",
    );
  });

  it("a value that is not a number is quoted, not said as NaN (newuser9 F6)", () => {
    expect(reason({ SERVICE_PORT: "abc" })).toBe(
      'Invalid configuration: SERVICE_PORT: must be a whole number (got "abc")',
    );
    expect(reason({ REDIS_CONNECT_TIMEOUT_MS: "abc" })).toBe(
      'Invalid configuration: REDIS_CONNECT_TIMEOUT_MS: must be a whole number of ms (got "abc")',
    );
  });

  it("a value failing two of its rules gives its reason once", () => {
    const schema = z.object({ MAX_ORDER_TOTAL_CENTS: z.coerce.number().int().max(Number.MAX_SAFE_INTEGER) });
    const message = (() => {
      try {
        parseEnv(schema, { MAX_ORDER_TOTAL_CENTS: "1e30" });
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message?.match(/MAX_ORDER_TOTAL_CENTS/g)).toHaveLength(1);
  });

  it("NODE_ENV other than development, production or test is refused, not run as development", () => {
    expect(reason({ NODE_ENV: "prod" })).toBe(
      'Invalid configuration: NODE_ENV: must be development, production or test (got "prod"): anything else would run with the development defaults',
    );
    expect(parseEnv(serviceEnvSchema, { NODE_ENV: "" }).NODE_ENV).toBe("development");
    expect(parseEnv(serviceEnvSchema, { NODE_ENV: "test" }).NODE_ENV).toBe("test");
  });

  it("the launchers check REDIS_URL and NODE_ENV before connecting", async () => {
    const { redisConnectTimeoutMs } = await import("../../system/dev-secrets-start.js");
    expect(() => redisConnectTimeoutMs({ REDIS_URL: "http://127.0.0.1:6379" })).toThrow(
      /REDIS_URL: must start with redis:\/\//,
    );
    expect(() => redisConnectTimeoutMs({ NODE_ENV: "prod" })).toThrow(/NODE_ENV: must be development/);
    expect(() => redisConnectTimeoutMs({ BUS_NATIVE_HMAC: "yes" })).toThrow(
      /BUS_NATIVE_HMAC: must be 0 or false/,
    );
  });
});
