import { describe, expect, it } from "vitest";
import { parseEnv } from "../lib/runtime/config.js";
import { assertSafeGatewayConfig, gatewayEnvSchema, MIN_API_KEY_LENGTH } from "./config.js";

describe("gateway configuration", () => {
  it("defaults to port 8080 and no authentication", () => {
    const env = parseEnv(gatewayEnvSchema, {});
    expect(env.GATEWAY_PORT).toBe(8080);
    expect(env.GATEWAY_API_KEYS).toEqual([]);
    expect(env.UPSTREAM_MAX_BODY_BYTES).toBe(10 * 1024 * 1024);
  });

  it("reads comma-separated API keys, ignoring blanks", () => {
    const env = parseEnv(gatewayEnvSchema, { GATEWAY_API_KEYS: " k-1, ,k-2,", GATEWAY_PORT: "9000" });
    expect(env.GATEWAY_API_KEYS).toEqual(["k-1", "k-2"]);
    expect(env.GATEWAY_PORT).toBe(9000);
  });

  it("refuses a duration setTimeout cannot run (it would fire at once), naming the variable and the max", () => {
    for (const name of [
      "UPSTREAM_TIMEOUT_MS",
      "HEALTH_CHECK_INTERVAL_MS",
      "HEARTBEAT_INTERVAL_MS",
      "REDIS_CONNECT_TIMEOUT_MS",
    ] as const) {
      expect(() => parseEnv(gatewayEnvSchema, { [name]: "3000000000" })).toThrow(
        new RegExp(`^Invalid configuration: ${name}: must be at most 2147483647 ms`),
      );
      expect(parseEnv(gatewayEnvSchema, { [name]: "2147483647" })[name]).toBe(2_147_483_647);
    }
  });

  it("reads GATEWAY_TRUST_PROXY as a list of proxy addresses, none by default", () => {
    expect(parseEnv(gatewayEnvSchema, {}).GATEWAY_TRUST_PROXY).toEqual([]);
    for (const off of ["", "off", "none", "false"]) {
      expect(parseEnv(gatewayEnvSchema, { GATEWAY_TRUST_PROXY: off }).GATEWAY_TRUST_PROXY).toEqual([]);
    }
    expect(
      parseEnv(gatewayEnvSchema, { GATEWAY_TRUST_PROXY: " 10.0.0.7, 10.1.0.0/16,fd00::/8, Loopback," })
        .GATEWAY_TRUST_PROXY,
    ).toEqual(["10.0.0.7", "10.1.0.0/16", "fd00::/8", "loopback"]);
  });

  it("refuses a hop count, trust-everything and anything not an address, in one line naming the variable", () => {
    const refused: [string, RegExp][] = [
      ["1", /a hop count \(1\) is not accepted/],
      ["true", /would believe any client's X-Forwarded-For/],
      ["*", /would believe any client's X-Forwarded-For/],
      ["0.0.0.0/0", /is every address/],
      ["::/0", /is every address/],
      ["10.0.0.0/33", /prefix length/],
      ["10.0.0.0/x", /prefix length/],
      ["lb.internal", /is not an IP address/],
      ["10.0.0.1,10.0.0", /"10.0.0" is not an IP address/],
    ];
    for (const [value, message] of refused) {
      let error: unknown;
      try {
        parseEnv(gatewayEnvSchema, { GATEWAY_TRUST_PROXY: value });
      } catch (caught) {
        error = caught;
      }
      expect(error, value).toBeInstanceOf(Error);
      const text = (error as Error).message;
      expect(text, value).toMatch(/^Invalid configuration: GATEWAY_TRUST_PROXY: /);
      expect(text, value).toMatch(message);
      expect(text, value).not.toContain("\n");
    }
  });

  it("refuses a bad port with the variable named", () => {
    expect(() => parseEnv(gatewayEnvSchema, { GATEWAY_PORT: "http" })).toThrow(
      'Invalid configuration: GATEWAY_PORT: must be a whole number (got "http")',
    );
  });
});

describe("gateway configuration in production (fails closed)", () => {
  const secret = "s".repeat(32);
  const key = "k".repeat(MIN_API_KEY_LENGTH);
  const parse = (env: Record<string, string>) =>
    parseEnv(gatewayEnvSchema, { NODE_ENV: "production", ...env });

  it("refuses to start without an API key unless GATEWAY_ALLOW_NO_AUTH=1", () => {
    expect(() => assertSafeGatewayConfig(parse({ GATEWAY_SHARED_SECRET: secret }))).toThrow(
      /GATEWAY_ALLOW_NO_AUTH=1/,
    );
    expect(() =>
      assertSafeGatewayConfig(parse({ GATEWAY_SHARED_SECRET: secret, GATEWAY_ALLOW_NO_AUTH: "1" })),
    ).not.toThrow();
    expect(() =>
      assertSafeGatewayConfig(parse({ GATEWAY_SHARED_SECRET: secret, GATEWAY_ADMIN_API_KEYS: key })),
    ).not.toThrow();
  });

  it("refuses to start without GATEWAY_SHARED_SECRET", () => {
    expect(() => assertSafeGatewayConfig(parse({ GATEWAY_API_KEYS: key }))).toThrow(/GATEWAY_SHARED_SECRET/);
  });

  // break13 F2: GATEWAY_API_KEYS=a started a production gateway.
  it("refuses an API key shorter than MIN_API_KEY_LENGTH (32), naming the variable, never the key", () => {
    for (const variable of ["GATEWAY_API_KEYS", "GATEWAY_ADMIN_API_KEYS"]) {
      const short = "q".repeat(MIN_API_KEY_LENGTH - 1);
      const run = () =>
        assertSafeGatewayConfig(parse({ GATEWAY_SHARED_SECRET: secret, [variable]: `${key},${short}` }));
      expect(run).toThrow(new RegExp(`${variable} holds 1 key\\(s\\) shorter than 32 characters`));
      expect(run).not.toThrow(new RegExp(short));
    }
    expect(MIN_API_KEY_LENGTH).toBe(32);
  });

  it("keeps development open to any key length (the demo and the quick start need no setup)", () => {
    expect(() =>
      assertSafeGatewayConfig(parseEnv(gatewayEnvSchema, { GATEWAY_API_KEYS: "a" })),
    ).not.toThrow();
  });

  it("starts open in development with no key and no secret (quick start, demo)", () => {
    expect(() => assertSafeGatewayConfig(parseEnv(gatewayEnvSchema, {}))).not.toThrow();
  });
});
