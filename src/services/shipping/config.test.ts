import { describe, expect, it } from "vitest";
import { ConfigError } from "../../lib/runtime/config.js";
import { DEFAULT_DELIVERY_DELAY_MS, MAX_DELIVERY_DELAY_MS, shippingConfigFromEnv } from "./service.js";

describe("SHIPPING_DELIVERY_DELAY_MS (time from shipped to delivered)", () => {
  it("defaults to 5 s", () => {
    expect(DEFAULT_DELIVERY_DELAY_MS).toBe(5_000);
    expect(shippingConfigFromEnv({}).deliveryDelayMs).toBe(5_000);
  });

  it("sets the delay in ms", () => {
    expect(shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: "60000" }).deliveryDelayMs).toBe(60_000);
    expect(shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: "0" }).deliveryDelayMs).toBe(0);
  });

  it("refuses a value that is not a whole number of ms, naming the variable", () => {
    expect(() => shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: "5s" })).toThrow(ConfigError);
    expect(() => shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: "-1" })).toThrow(
      /SHIPPING_DELIVERY_DELAY_MS/,
    );
  });

  it("refuses a delay past 30 days, which no carrier takes (a huge one made every shipment's date throw)", () => {
    expect(
      shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: String(MAX_DELIVERY_DELAY_MS) }).deliveryDelayMs,
    ).toBe(MAX_DELIVERY_DELAY_MS);
    expect(() =>
      shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: String(MAX_DELIVERY_DELAY_MS + 1) }),
    ).toThrow(/SHIPPING_DELIVERY_DELAY_MS/);
    expect(() => shippingConfigFromEnv({ SHIPPING_DELIVERY_DELAY_MS: "1e16" })).toThrow(ConfigError);
  });
});

describe("SHIPPING_ORPHAN_GRACE_MS and SHIPPING_ORPHAN_SCAN_INTERVAL_MS (the orphan-booking pass, break28 F2)", () => {
  it("default to 10 min and 60 s, like the payment orphan-charge pass's", () => {
    expect(shippingConfigFromEnv({})).toMatchObject({ orphanGraceMs: 600_000, orphanScanIntervalMs: 60_000 });
    expect(
      shippingConfigFromEnv({ SHIPPING_ORPHAN_GRACE_MS: "900000", SHIPPING_ORPHAN_SCAN_INTERVAL_MS: "0" }),
    ).toMatchObject({ orphanGraceMs: 900_000, orphanScanIntervalMs: 0 });
  });

  it("refuses a grace not past the carrier's in-flight lease, the takeover time and the saga step", () => {
    expect(() => shippingConfigFromEnv({ SHIPPING_ORPHAN_GRACE_MS: "60000" })).toThrow(
      /SHIPPING_ORPHAN_GRACE_MS/,
    );
    expect(() =>
      shippingConfigFromEnv({ SAGA_STEP_TIMEOUT_MS: "420000", SHIPPING_ORPHAN_GRACE_MS: "300000" }),
    ).toThrow(/SHIPPING_ORPHAN_GRACE_MS \(300000 ms\) must exceed CLAIM_IDLE_MS.*SAGA_STEP_TIMEOUT_MS/);
  });
});
