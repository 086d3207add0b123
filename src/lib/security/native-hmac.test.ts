import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseEnv, serviceEnvSchema } from "../runtime/config.js";

/** native-hmac.ts as a fresh module, loaded with BUS_NATIVE_HMAC = `setting`. */
async function loadWith(setting: string | undefined, { addonMissing = false } = {}) {
  vi.resetModules();
  if (setting === undefined) delete process.env.BUS_NATIVE_HMAC;
  else process.env.BUS_NATIVE_HMAC = setting;
  if (addonMissing)
    vi.doMock("node:module", () => ({
      createRequire: () => () => {
        throw new Error("Cannot find module 'hmac_sha256.node'");
      },
    }));
  return import("./native-hmac.js");
}

const original = process.env.BUS_NATIVE_HMAC;
afterEach(() => {
  vi.doUnmock("node:module");
  vi.resetModules();
  if (original === undefined) delete process.env.BUS_NATIVE_HMAC;
  else process.env.BUS_NATIVE_HMAC = original;
});

describe("BUS_NATIVE_HMAC", () => {
  it("0 and false (any case) rule the addon out; the implementation says why", async () => {
    for (const setting of ["0", "false", "FALSE"]) {
      const module = await loadWith(setting);
      expect(module.nativeHmac, setting).toBeUndefined();
      expect(module.hmacImplementation()).toBe(`crypto.hash (BUS_NATIVE_HMAC=${setting})`);
    }
  });

  it("a value that is not 0/1/true/false/empty is refused at start, naming the variable", async () => {
    const { nativeHmacSetting } = await loadWith(undefined);
    for (const bad of ["yes", "2", "off"]) {
      const result = nativeHmacSetting.safeParse(bad);
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.message).toMatch(/must be 0 or false .* got "/);
    }
    expect(() => parseEnv(serviceEnvSchema, { BUS_NATIVE_HMAC: "yes" })).toThrow(ConfigError);
    expect(() => parseEnv(serviceEnvSchema, { BUS_NATIVE_HMAC: "yes" })).toThrow(/BUS_NATIVE_HMAC/);
  });

  it("1 or true with the addon unavailable: loading does not throw, the configuration refuses to start with the reason", async () => {
    for (const setting of ["1", "true"]) {
      const module = await loadWith(setting, { addonMissing: true });
      expect(module.nativeHmac).toBeUndefined();
      expect(module.nativeHmacUnavailable).toMatch(/hmac_sha256\.node: Cannot find module/);
      const result = module.nativeHmacSetting.safeParse(setting);
      expect(result.success).toBe(false);
      expect(result.error?.issues[0]?.message).toMatch(
        /requires the native HMAC, which is unavailable .*npm rebuild/,
      );
      expect(module.hmacImplementation()).toMatch(/^crypto\.hash \(.*Cannot find module/);
    }
  });

  it("unset or empty with the addon unavailable: crypto.hash, accepted", async () => {
    const module = await loadWith("", { addonMissing: true });
    expect(module.nativeHmac).toBeUndefined();
    expect(module.nativeHmacSetting.safeParse("").success).toBe(true);
    expect(module.nativeHmacSetting.safeParse(undefined).success).toBe(true);
  });
});
