import { describe, expect, it } from "vitest";
import { MAX_TIMER_MS, parseEnv, serviceEnvSchema } from "./config.js";

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
