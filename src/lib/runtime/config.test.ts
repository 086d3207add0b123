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
