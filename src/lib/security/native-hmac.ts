/**
 * The optional native HMAC-SHA256 (native/hmac_sha256.c, built by `npm ci` through node-gyp when a
 * C compiler is present): the same MAC as `createHmac("sha256", key)`, from key midstates absorbed
 * once per key, with no digest context made per call. It halves the CPU of a MAC over an envelope
 * (bench/bus-security.ts; BENCHMARKS.md "What signing and encryption cost"); without it
 * `HmacSha256` uses two one-shot `crypto.hash` calls per MAC, byte for byte the same MAC.
 *
 * Loaded once per process from `build/Release/hmac_sha256.node` at the package root. Not used when
 * the file is missing or fails to load (no compiler at install, another Node ABI), when its answer
 * to RFC 4231's test case 2 is not the expected MAC, or when `BUS_NATIVE_HMAC=0` (to compare the
 * two paths, or to rule the addon out). `BUS_NATIVE_HMAC=1` makes a missing or failing addon an
 * error at start-up instead (CI sets it: the addon must have been built).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export interface NativeHmac {
  /** Absorbs (K ⊕ ipad) and (K ⊕ opad) of a 64-byte zero-padded key (RFC 2104); returns both states. */
  prepare(paddedKey: Buffer): Buffer;
  /** The MAC of `data[start, end)` under the key of `state`, as 43 base64url characters. */
  tag(state: Buffer, data: Buffer, start: number, end: number): string;
}

/** The addon's path: `build/Release` at the package root (src/lib/security or dist/lib/security). */
export const NATIVE_HMAC_PATH = fileURLToPath(
  new URL("../../../build/Release/hmac_sha256.node", import.meta.url),
);

/** RFC 4231 §4.3 (test case 2): key "Jefe", data "what do ya want for nothing?". */
const RFC4231_CASE_2 = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM";

/** Why the addon is not in use, or undefined when it is. */
export let nativeHmacUnavailable: string | undefined;

function load(setting: string | undefined): NativeHmac | undefined {
  if (setting === "0") {
    nativeHmacUnavailable = "BUS_NATIVE_HMAC=0";
    return undefined;
  }
  try {
    const addon = createRequire(import.meta.url)(NATIVE_HMAC_PATH) as NativeHmac;
    const key = Buffer.alloc(64);
    key.write("Jefe");
    const data = Buffer.from("what do ya want for nothing?");
    if (addon.tag(addon.prepare(key), data, 0, data.length) !== RFC4231_CASE_2)
      throw new Error("its MAC of RFC 4231 test case 2 is wrong");
    return addon;
  } catch (error) {
    nativeHmacUnavailable = `${NATIVE_HMAC_PATH}: ${(error as Error).message.split("\n")[0]}`;
    if (setting === "1")
      throw new Error(`BUS_NATIVE_HMAC=1 but the native HMAC is unavailable (${nativeHmacUnavailable})`);
    return undefined;
  }
}

/** The addon, or undefined (see `nativeHmacUnavailable`). */
export const nativeHmac: NativeHmac | undefined = load(process.env.BUS_NATIVE_HMAC);
