import { describe, expect, it } from "vitest";
import { parseEnv, serviceEnvSchema } from "../../lib/runtime/config.js";
import { orderConfigFromEnv, stepBudgetProblem } from "./config.js";
import { DEFAULT_SAGA_OPTIONS } from "./saga-model.js";

describe("order service configuration", () => {
  it("the default step deadline outlives the default takeover time plus processing", () => {
    const { CLAIM_IDLE_MS } = parseEnv(serviceEnvSchema, {});
    expect(stepBudgetProblem(DEFAULT_SAGA_OPTIONS.stepTimeoutMs, CLAIM_IDLE_MS)).toBeUndefined();
    expect(orderConfigFromEnv({})).toEqual({
      stepTimeoutMs: DEFAULT_SAGA_OPTIONS.stepTimeoutMs,
      compensationWindowMs: DEFAULT_SAGA_OPTIONS.compensationWindowMs,
      aofRewriteIntervalMs: 60_000,
      tokenSealFormat: "v2",
    });
  });

  it("refuses a step deadline shorter than the takeover time (a kill -9 would fail in-flight orders)", () => {
    expect(() => orderConfigFromEnv({ SAGA_STEP_TIMEOUT_MS: "10000", CLAIM_IDLE_MS: "30000" })).toThrow(
      /SAGA_STEP_TIMEOUT_MS .* must exceed CLAIM_IDLE_MS/,
    );
    expect(orderConfigFromEnv({ SAGA_STEP_TIMEOUT_MS: "60000", CLAIM_IDLE_MS: "30000" }).stepTimeoutMs).toBe(
      60_000,
    );
  });

  it("reads the compensation window", () => {
    expect(orderConfigFromEnv({ SAGA_COMPENSATION_WINDOW_MS: "1000" }).compensationWindowMs).toBe(1_000);
    expect(() => orderConfigFromEnv({ SAGA_COMPENSATION_WINDOW_MS: "-1" })).toThrow(/INVALID|Invalid/);
  });

  it("reads how long an Idempotency-Key is remembered (unset: the routes' 24 h)", () => {
    expect(orderConfigFromEnv({ ORDER_IDEMPOTENCY_TTL_MS: "20000" }).idempotencyTtlMs).toBe(20_000);
    expect(orderConfigFromEnv({}).idempotencyTtlMs).toBeUndefined();
    expect(() => orderConfigFromEnv({ ORDER_IDEMPOTENCY_TTL_MS: "0" })).toThrow(/ORDER_IDEMPOTENCY_TTL_MS/);
  });

  it("PAYMENT_TOKEN_SEAL_FORMAT: v2 by default, v1 for a rolling upgrade, anything else refused in one line", () => {
    expect(orderConfigFromEnv({ PAYMENT_TOKEN_SEAL_FORMAT: "v1" }).tokenSealFormat).toBe("v1");
    expect(orderConfigFromEnv({ PAYMENT_TOKEN_SEAL_FORMAT: "v2" }).tokenSealFormat).toBe("v2");
    for (const bad of ["v3", "V1", "1", ""]) {
      let message = "";
      try {
        orderConfigFromEnv({ PAYMENT_TOKEN_SEAL_FORMAT: bad });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toMatch(/^Invalid configuration: PAYMENT_TOKEN_SEAL_FORMAT: .+$/);
    }
  });
});
