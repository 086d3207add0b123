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

  it("refuses an orphan grace not past the takeover time and the saga step (break15 F6)", () => {
    // The reviewer's setup: a stalled instance's charge is finished by a takeover after 150 s, and
    // the saga waits 420 s: a 120 s grace would void it first.
    expect(() =>
      paymentConfigFromEnv({
        CLAIM_IDLE_MS: "150000",
        SAGA_STEP_TIMEOUT_MS: "420000",
        PAYMENT_ORPHAN_GRACE_MS: "120000",
      }),
    ).toThrow(
      /PAYMENT_ORPHAN_GRACE_MS \(120000 ms\) must exceed CLAIM_IDLE_MS \(150000 ms\).*SAGA_STEP_TIMEOUT_MS/,
    );
    expect(() =>
      paymentConfigFromEnv({ CLAIM_IDLE_MS: "150000", PAYMENT_ORPHAN_GRACE_MS: "200000" }),
    ).toThrow(/PAYMENT_ORPHAN_GRACE_MS/);
    expect(
      paymentConfigFromEnv({
        CLAIM_IDLE_MS: "150000",
        SAGA_STEP_TIMEOUT_MS: "420000",
        PAYMENT_ORPHAN_GRACE_MS: "600000",
      }).orphanGraceMs,
    ).toBe(600_000);
  });

  it("refuses an invalid value, naming the variable", () => {
    expect(() => paymentConfigFromEnv({ PAYMENT_BREAKER_OPEN_MS: "soon" })).toThrow(
      /PAYMENT_BREAKER_OPEN_MS/,
    );
  });
});
