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
