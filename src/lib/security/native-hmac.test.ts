import { spawnSync } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ConfigError, parseEnv, serviceEnvSchema } from "../runtime/config.js";
import { addonIntegrity, loadNativeHmac, NATIVE_HMAC_PATH, nativeHmac } from "./native-hmac.js";

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

describe.runIf(existsSync(NATIVE_HMAC_PATH))("a damaged or foreign addon file", () => {
  const dir = mkdtempSync(join(tmpdir(), "native-hmac-"));
  const good = readFileSync(NATIVE_HMAC_PATH);
  const digest = readFileSync(`${NATIVE_HMAC_PATH}.sha256`);
  /** The addon's bytes, changed by `damage`, at a path of its own with the good file's digest beside it. */
  const placed = (name: string, damage: (bytes: Buffer) => Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, damage(Buffer.from(good)));
    writeFileSync(`${path}.sha256`, digest);
    return path;
  };

  it("the build recorded the addon's digest, and the built file matches it", () => {
    expect(addonIntegrity(NATIVE_HMAC_PATH)).toBeUndefined();
  });

  it("cut short or with a zeroed block: refused by its digest before dlopen (which would die with SIGBUS/SIGSEGV)", () => {
    const damaged = [
      placed("cut.node", (bytes) => bytes.subarray(0, 8000)),
      placed("zeroed.node", (bytes) => bytes.fill(0, 4096, 8192)),
      placed("one-bit.node", (bytes) => {
        bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 1;
        return bytes;
      }),
    ];
    for (const path of damaged) {
      const result = loadNativeHmac(path, "1");
      expect(result.addon, path).toBeUndefined();
      expect(result.unavailable).toMatch(/not loaded: its SHA-256 is not the one recorded at build/);
    }
  });

  it("without its recorded digest (built by hand), it is not loaded, and the reason says where the digest comes from", () => {
    const path = join(dir, "no-digest.node");
    writeFileSync(path, good);
    expect(loadNativeHmac(path, undefined).unavailable).toMatch(/no no-digest\.node\.sha256 beside it/);
  });

  it('built for another architecture (its digest recorded with it): not loaded, and the reason says so, not only glibc\'s "No such file"', () => {
    const path = join(dir, "aarch64.node");
    const bytes = Buffer.from(good);
    bytes.writeUInt16LE(183, 18); // ELF e_machine: EM_AARCH64
    writeFileSync(path, bytes);
    writeFileSync(`${path}.sha256`, createHash("sha256").update(bytes).digest("hex"));
    const result = loadNativeHmac(path, "1");
    expect(result.addon).toBeUndefined();
    expect(result.unavailable).toMatch(
      /built for another CPU architecture, libc or Node\.js; run `npm rebuild` on this machine/,
    );
  });

  it("a FIFO or a directory at the path: refused at once, not read (a FIFO would block the start forever)", () => {
    const fifo = join(dir, "fifo.node");
    const made = spawnSync("mkfifo", [fifo]);
    if (made.status === 0) expect(loadNativeHmac(fifo, undefined).unavailable).toMatch(/not a regular file/);
    expect(loadNativeHmac(dir, undefined).unavailable).toMatch(/not a regular file/);
  });

  it("whole, it loads and gives RFC 4231's MAC (a copy elsewhere with its digest too)", () => {
    expect(
      loadNativeHmac(
        placed("copy.node", (bytes) => bytes),
        undefined,
      ).addon,
    ).toBeDefined();
  });
});

describe.runIf(nativeHmac)("the addon's ranges", () => {
  it("refuses start/end that are not whole numbers within the data (no wrapping of NaN, Infinity or 2^32 to 0)", () => {
    const addon = nativeHmac!;
    const state = addon.prepare(Buffer.alloc(64, 1));
    const data = Buffer.from("abcdef");
    for (const [start, end] of [
      [0, Infinity],
      [0, Number.NaN],
      [0, 2 ** 32],
      [-1, 3],
      [0.5, 3],
      [0, 2.5],
    ] as const)
      expect(() => addon.tag(state, data, start, end), `${start}, ${end}`).toThrow(RangeError);
    // Valid whole-number bounds still give the real MAC of that range.
    expect(addon.tag(state, data, 1, 6)).toBe(
      createHmac("sha256", Buffer.alloc(64, 1)).update("bcdef").digest("base64url"),
    );
  });
});

/** npm's own node-gyp, next to the running node (how npm runs it for the install script). */
const npmNodeGyp = join(
  dirname(process.execPath),
  "..",
  "lib",
  "node_modules",
  "npm",
  "node_modules",
  "node-gyp",
  "bin",
  "node-gyp.js",
);

/** A temporary directory holding what scripts/build-native.mjs builds from (the caller removes it). */
function buildInputsCopy(): string {
  const root = new URL("../../../", import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), "build-native-"));
  for (const part of ["binding.gyp", "native", "scripts/build-native.mjs"])
    cpSync(new URL(part, root), join(dir, part), { recursive: true });
  return dir;
}

describe.runIf(existsSync(npmNodeGyp) && existsSync(NATIVE_HMAC_PATH))("scripts/build-native.mjs", () => {
  it("builds from the running Node's own headers, with no npm nodedir setting and no network (break40 F4)", () => {
    const dir = buildInputsCopy();
    try {
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: dir,
        BUS_NATIVE_HMAC: "1",
        npm_config_node_gyp: npmNodeGyp,
        // Empty: node-gyp would apply it over --nodedir and download (break41 L4).
        NPM_CONFIG_NODEDIR: "",
        // An unreachable proxy: a download attempt fails at once instead of waiting on the network.
        HTTPS_PROXY: "http://127.0.0.1:9",
        HTTP_PROXY: "http://127.0.0.1:9",
      };
      const result = spawnSync(process.execPath, ["scripts/build-native.mjs"], {
        cwd: dir,
        env,
        encoding: "utf8",
      });
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
      // Tested in a child, then its digest recorded: the loader accepts it.
      expect(existsSync(join(dir, "build", "Release", "hmac_sha256.node.sha256"))).toBe(true);
      expect(loadNativeHmac(join(dir, "build", "Release", "hmac_sha256.node"), "1").addon).toBeDefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("fails the install (BUS_NATIVE_HMAC=1) when the built AES-256-GCM is not Node's, and records no digest (break45 L4)", () => {
    const dir = buildInputsCopy();
    try {
      // A seal that flips the first ciphertext bit: still a valid build, the wrong bytes.
      const source = join(dir, "native", "hmac_sha256.c");
      const marker = "EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */";
      const code = readFileSync(source, "utf8");
      expect(code).toContain(marker);
      writeFileSync(source, code.replace(marker, `if (plain_length) out[0] ^= 1;\n  ${marker}`));
      const result = spawnSync(process.execPath, ["scripts/build-native.mjs"], {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: dir, BUS_NATIVE_HMAC: "1", npm_config_node_gyp: npmNodeGyp },
        encoding: "utf8",
      });
      expect(result.status, `${result.stdout}${result.stderr}`).toBe(1);
      expect(result.stderr).toMatch(/HKDF-SHA256 or AES-256-GCM did not give Node's bytes/);
      expect(existsSync(join(dir, "build", "Release", "hmac_sha256.node.sha256"))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
