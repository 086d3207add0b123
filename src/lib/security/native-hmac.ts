/**
 * The optional native HMAC-SHA256 (native/hmac_sha256.c, built by `npm ci` through node-gyp when a
 * C compiler is present): the same MAC as `createHmac("sha256", key)`, from key midstates absorbed
 * once per key, with no digest context made per call. It halves the CPU of a MAC over an envelope
 * (bench/bus-security.ts; BENCHMARKS.md "What signing and encryption cost"); without it
 * `HmacSha256` uses two one-shot `crypto.hash` calls per MAC, byte for byte the same MAC. The same
 * addon computes the sealed fields' HKDF-SHA256 and AES-256-GCM (encryption.ts, payment-token.ts)
 * about ten times cheaper than `createHmac`/`createCipheriv`, with the same bytes; without it they
 * use Node's crypto.
 *
 * Loaded once per process from `build/Release/hmac_sha256.node` at the package root. Not used when
 * the file is missing, is not the file the build tested (`addonIntegrity`: its recorded SHA-256), or
 * fails to load (no compiler at install, another Node ABI), when its answer to RFC 4231's test case 2 is not the expected MAC
 * or its HKDF or AES-256-GCM is not Node's for a fixed input (`aeadSelfTest`), or when
 * `BUS_NATIVE_HMAC` is `0`/`false` (to compare the two paths, or to rule the addon out). `1`/`true` requires it: the process
 * configuration (`nativeHmacSetting`, in every service's and the gateway's schema) refuses to start
 * without it, in one line naming the file and why (CI sets it: the addon must have been built).
 * Loading never throws: the MACs and sealed values are the same either way, only their CPU differs.
 */
import { createCipheriv, createHash, hkdfSync } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

export interface NativeHmac {
  /** Absorbs (K ⊕ ipad) and (K ⊕ opad) of a 64-byte zero-padded key (RFC 2104); returns both states. */
  prepare(paddedKey: Buffer): Buffer;
  /** The MAC of `data[start, end)` under the key of `state`, as 43 base64url characters. */
  tag(state: Buffer, data: Buffer, start: number, end: number): string;
  /** Writes HKDF-SHA256(ikm, salt, info) with L = 32 (RFC 5869) into `out` (32 bytes). */
  hkdf32(ikm: Buffer, salt: Buffer, info: Buffer, out: Buffer): void;
  /** AES-256-GCM: writes the ciphertext and its 16-byte tag into `out` (plaintext.length + 16 bytes). */
  gcmSeal(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer, out: Buffer): void;
  /** AES-256-GCM: whether `tag` authenticates; the plaintext in `out` (ciphertext.length), zeroed when not. */
  gcmOpen(key: Buffer, iv: Buffer, ciphertext: Buffer, tag: Buffer, aad: Buffer, out: Buffer): boolean;
}

/** The addon's path: `build/Release` at the package root (src/lib/security or dist/lib/security). */
export const NATIVE_HMAC_PATH = fileURLToPath(
  new URL("../../../build/Release/hmac_sha256.node", import.meta.url),
);

/** RFC 4231 §4.3 (test case 2): key "Jefe", data "what do ya want for nothing?". */
const RFC4231_CASE_2 = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM";

/** The values BUS_NATIVE_HMAC takes: off, required, or (empty/unset) whichever is available. */
export const NATIVE_HMAC_SETTINGS = ["0", "1", "false", "true", ""] as const;
const OFF = new Set(["0", "false"]);
const REQUIRED = new Set(["1", "true"]);

/** The largest addon file read for its digest (the built one is about 16 KB). */
const MAX_ADDON_BYTES = 16 * 1024 * 1024;

/**
 * Why the file at `path` must not be loaded, or undefined when it is a regular file whose SHA-256 is
 * the one scripts/build-native.mjs wrote beside it (`<path>.sha256`) after loading it once in a child
 * process. dlopen of a damaged file (cut short, zeroed blocks) kills the process with SIGBUS or
 * SIGSEGV, which no fallback can catch (break40 F5, break41 L1); a FIFO at the path would block the
 * read forever (break41 L2). Throws only what reading a regular file throws.
 */
export function addonIntegrity(path: string): string | undefined {
  const stat = statSync(path);
  if (!stat.isFile()) return "not a regular file";
  if (stat.size > MAX_ADDON_BYTES) return `larger than ${MAX_ADDON_BYTES} bytes`;
  let expected: string;
  try {
    expected = readFileSync(`${path}.sha256`, "latin1").trim();
  } catch {
    return `no ${basename(path)}.sha256 beside it (written by scripts/build-native.mjs after a test load)`;
  }
  const actual = createHash("sha256").update(readFileSync(path)).digest("hex");
  return actual === expected
    ? undefined
    : `its SHA-256 is not the one recorded at build (damaged or replaced)`;
}

/**
 * Loads the addon at `path` unless `setting` rules it out; returns it, or why it is not in use
 * (missing, truncated, fails to load, or a wrong MAC for RFC 4231's test case 2). Never throws.
 */
export function loadNativeHmac(
  path: string,
  setting: string | undefined,
): { addon: NativeHmac; unavailable?: undefined } | { addon?: undefined; unavailable: string } {
  if (setting !== undefined && OFF.has(setting.toLowerCase()))
    return { unavailable: `BUS_NATIVE_HMAC=${setting}` };
  try {
    const damaged = addonIntegrity(path);
    if (damaged) throw new Error(`not loaded: ${damaged}; rebuild it with \`npm rebuild\``);
    const addon = createRequire(import.meta.url)(path) as NativeHmac;
    const key = Buffer.alloc(64);
    key.write("Jefe");
    const data = Buffer.from("what do ya want for nothing?");
    if (addon.tag(addon.prepare(key), data, 0, data.length) !== RFC4231_CASE_2)
      throw new Error("its MAC of RFC 4231 test case 2 is wrong");
    const wrong = aeadSelfTest(addon);
    if (wrong) throw new Error(wrong);
    return { addon };
  } catch (error) {
    const first = (error as Error).message.split("\n")[0];
    // The file is there and whole (its digest matched), so dlopen's refusal is about what it was
    // built for; glibc words a wrong architecture as "No such file or directory" (break41 L3).
    const foreign =
      (error as { code?: string }).code === "ERR_DLOPEN_FAILED"
        ? " (the file is there and whole: it was built for another CPU architecture, libc or Node.js; run `npm rebuild` on this machine)"
        : "";
    return { unavailable: `${path}: ${first}${foreign}` };
  }
}

/**
 * Why the addon's HKDF or AES-256-GCM does not give Node's own answer for one fixed input (an
 * addon from an older build has neither function), or undefined when both agree and a tampered
 * ciphertext is refused. Node's `hkdfSync` and `createCipheriv` are the reference.
 */
export function aeadSelfTest(addon: NativeHmac): string | undefined {
  if (
    typeof addon.hkdf32 !== "function" ||
    typeof addon.gcmSeal !== "function" ||
    typeof addon.gcmOpen !== "function"
  )
    return "it has no HKDF or AES-256-GCM (an older build): rebuild it with `npm rebuild`";
  const bytes = (n: number, from: number) =>
    Buffer.from(Array.from({ length: n }, (_, i) => (from + i * 7) & 0xff));
  const [ikm, salt, info] = [bytes(32, 1), bytes(36, 2), bytes(59, 3)];
  const okm = Buffer.alloc(32);
  addon.hkdf32(ikm, salt, info, okm);
  if (!okm.equals(Buffer.from(hkdfSync("sha256", ikm, salt, info, 32))))
    return "its HKDF-SHA256 is not Node's";
  const [key, iv, plaintext, aad] = [bytes(32, 4), bytes(12, 5), bytes(24, 6), bytes(36, 7)];
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  const sealed = Buffer.alloc(plaintext.length + 16);
  addon.gcmSeal(key, iv, plaintext, aad, sealed);
  if (!sealed.equals(expected)) return "its AES-256-GCM is not Node's";
  const opened = Buffer.alloc(plaintext.length);
  const ciphertext = sealed.subarray(0, plaintext.length);
  const tag = sealed.subarray(plaintext.length);
  if (!addon.gcmOpen(key, iv, ciphertext, tag, aad, opened) || !opened.equals(plaintext))
    return "its AES-256-GCM does not open its own seal";
  tag[0] = tag[0]! ^ 1;
  if (addon.gcmOpen(key, iv, ciphertext, tag, aad, opened)) return "its AES-256-GCM opens an altered seal";
  return undefined;
}

const loaded = loadNativeHmac(NATIVE_HMAC_PATH, process.env.BUS_NATIVE_HMAC);
/** Why the addon is not in use, or undefined when it is. */
export const nativeHmacUnavailable: string | undefined = loaded.unavailable;

/** The addon, or undefined (see `nativeHmacUnavailable`). */
export const nativeHmac: NativeHmac | undefined = loaded.addon;

/** How this process computes bus MACs, for its start-up log line: `native` or `crypto.hash (<why>)`. */
export const hmacImplementation = (): string =>
  nativeHmac ? "native" : `crypto.hash (${nativeHmacUnavailable ?? "not loaded"})`;

/**
 * BUS_NATIVE_HMAC in a process's configuration schema: one of NATIVE_HMAC_SETTINGS (any case), and
 * when it requires the addon (`1`/`true`), the addon in use; otherwise the start is refused with
 * the reason (a config error: one line, exit 1) rather than a stack trace from module loading.
 */
export const nativeHmacSetting = z
  .string()
  .optional()
  .superRefine((value, ctx) => {
    if (value === undefined) return;
    const setting = value.toLowerCase();
    if (!(NATIVE_HMAC_SETTINGS as readonly string[]).includes(setting))
      ctx.addIssue({
        code: "custom",
        message: `must be 0 or false (never use the native HMAC), 1 or true (require it) or empty (use it when built); got ${JSON.stringify(value)}`,
      });
    else if (REQUIRED.has(setting) && !nativeHmac)
      ctx.addIssue({
        code: "custom",
        message: `requires the native HMAC, which is unavailable (${nativeHmacUnavailable}): build it with \`npm rebuild\` (needs python3, make, a C compiler), or unset BUS_NATIVE_HMAC`,
      });
  });
