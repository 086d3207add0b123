import { describe, expect, it } from "vitest";
import { paymentConfigFromEnv } from "./service.js";

describe("payment configuration", () => {
  it("reads the provider timeout and the breaker's threshold and open time from the environment", () => {
    expect(paymentConfigFromEnv({})).toEqual({
      timeoutMs: 2_000,
      breakerFailureThreshold: 5,
      breakerOpenMs: 30_000,
      orphanGraceMs: 600_000,
      orphanScanIntervalMs: 60_000,
    });
    expect(
      paymentConfigFromEnv({
        PAYMENT_PROVIDER_TIMEOUT_MS: "1500",
        PAYMENT_BREAKER_FAILURE_THRESHOLD: "8",
        PAYMENT_BREAKER_OPEN_MS: "10000",
        PAYMENT_ORPHAN_GRACE_MS: "900000",
        PAYMENT_ORPHAN_SCAN_INTERVAL_MS: "0",
      }),
    ).toEqual({
      timeoutMs: 1_500,
      breakerFailureThreshold: 8,
      breakerOpenMs: 10_000,
      orphanGraceMs: 900_000,
      orphanScanIntervalMs: 0,
    });
    // Shorter than the provider's in-flight lease and the saga's payment step: refused.
    expect(() => paymentConfigFromEnv({ PAYMENT_ORPHAN_GRACE_MS: "60000" })).toThrow(
      /PAYMENT_ORPHAN_GRACE_MS/,
    );
  });

  it("refuses an invalid value, naming the variable", () => {
    expect(() => paymentConfigFromEnv({ PAYMENT_BREAKER_OPEN_MS: "soon" })).toThrow(
      /PAYMENT_BREAKER_OPEN_MS/,
    );
  });
});
