import { describe, expect, it } from "vitest";
import { parseEnv } from "../lib/runtime/config.js";
import { gatewayEnvSchema } from "./config.js";

describe("gateway configuration", () => {
  it("defaults to port 8080 and no authentication", () => {
    const env = parseEnv(gatewayEnvSchema, {});
    expect(env.GATEWAY_PORT).toBe(8080);
    expect(env.GATEWAY_API_KEYS).toEqual([]);
  });

  it("reads comma-separated API keys, ignoring blanks", () => {
    const env = parseEnv(gatewayEnvSchema, { GATEWAY_API_KEYS: " k-1, ,k-2,", GATEWAY_PORT: "9000" });
    expect(env.GATEWAY_API_KEYS).toEqual(["k-1", "k-2"]);
    expect(env.GATEWAY_PORT).toBe(9000);
  });

  it("refuses a bad port with the variable named", () => {
    expect(() => parseEnv(gatewayEnvSchema, { GATEWAY_PORT: "http" })).toThrow(/GATEWAY_PORT/);
  });
});
