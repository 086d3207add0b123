/**
 * AES-256-GCM field encryption with key ids and a fresh random 96-bit nonce per encryption.
 *
 * Sealed text: `enc1.<kid>.<base64url(nonce ‖ ciphertext ‖ 16-byte tag)>`. The associated data
 * (AAD) binds a value to its context (e.g. the order id), so a sealed value copied to another
 * record does not open there. Random nonces: at most 2^32 encryptions per key (NIST SP 800-38D
 * §8.3) before the key must rotate; a key id per value makes rotation a matter of adding a key.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
  randomFillSync,
} from "node:crypto";
import { BusError } from "../bus/errors.js";
import { KeyConfigError, KID_PATTERN } from "./keyring.js";
import { type NativeHmac, nativeHmac } from "./native-hmac.js";

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^enc1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)$/;

/** A sealed value that cannot be opened: unknown key id, wrong key or context, or altered bytes. */
export class DecryptionError extends BusError {
  constructor(reason: string) {
    super("DECRYPTION_FAILED", `cannot decrypt: ${reason}`);
    this.name = "DecryptionError";
  }
}

// Nonces come from a pool refilled 4 KiB at a time (one syscall per ~340 encryptions).
const pool = Buffer.allocUnsafe(4096);
let poolOffset = pool.length;
function nonce(): Buffer {
  if (poolOffset + NONCE_BYTES > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += NONCE_BYTES;
  // A view, not a copy: used at once (createCipheriv copies it, the sealed text is built before
  // the next call), and never handed out twice: the pool moves on.
  return pool.subarray(poolOffset - NONCE_BYTES, poolOffset);
}

/** Plaintext up to this many bytes goes through one reused buffer (CLEAR_SCRATCH), larger gets its own. */
const CLEAR_SCRATCH_BYTES = 4096;
/** Outside the shared Buffer pool, made once; every use is wiped before the call returns. */
const CLEAR_SCRATCH = Buffer.allocUnsafeSlow(CLEAR_SCRATCH_BYTES).fill(0);

/**
 * `length` bytes of memory outside the shared pool for a plaintext on its way in or out of the
 * native AES-GCM: a view of CLEAR_SCRATCH (no allocation per call), or its own buffer when larger.
 * The caller wipes it (fill(0)) before returning; JavaScript runs one call at a time.
 */
function clearScratch(length: number): Buffer {
  return length <= CLEAR_SCRATCH_BYTES ? CLEAR_SCRATCH.subarray(0, length) : Buffer.allocUnsafeSlow(length);
}

/**
 * Encrypts with a raw 32-byte key (AES-256-GCM); `aad` binds the value to its context. With a
 * Buffer key and the native addon (native-hmac.ts) it runs there, else through `createCipheriv`:
 * the same bytes for the same nonce, ~10 times less CPU natively (no cipher object, no lookup).
 * @param addon the addon to use: default the process's, `null` for Node's crypto (tests compare).
 */
export function sealWithKey(
  key: KeyObject | Buffer,
  kid: string,
  plaintext: string,
  aad: string,
  addon: NativeHmac | null | undefined = nativeHmac,
): string {
  const iv = nonce();
  if (addon && Buffer.isBuffer(key) && key.length === KEY_BYTES) {
    // Memory of its own, not the shared pool small Buffers come from (any pooled Buffer's `.buffer`
    // reads the pool), and wiped whatever happens (break45 L1, L2).
    const clear = clearScratch(Buffer.byteLength(plaintext, "utf8"));
    try {
      clear.write(plaintext, "utf8");
      const body = Buffer.allocUnsafe(NONCE_BYTES + clear.length + TAG_BYTES);
      iv.copy(body);
      addon.gcmSeal(key, iv, clear, Buffer.from(aad), body.subarray(NONCE_BYTES));
      return `enc1.${kid}.${body.toString("base64url")}`;
    } finally {
      clear.fill(0);
    }
  }
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad));
  const encrypted = cipher.update(plaintext, "utf8");
  cipher.final(); // GCM: no output; computes the tag
  const body = Buffer.concat([iv, encrypted, cipher.getAuthTag()]);
  return `enc1.${kid}.${body.toString("base64url")}`;
}

/** The key id of a sealed value, or undefined when `sealed` is not one. */
export function sealedKid(sealed: string): string | undefined {
  return SEALED.exec(sealed)?.[1];
}

/**
 * Decrypts a value sealed by `sealWithKey` (natively with a Buffer key when the addon is in use).
 * Throws DecryptionError (never echoing the value).
 */
export function openWithKey(
  key: KeyObject | Buffer,
  sealed: string,
  aad: string,
  addon: NativeHmac | null | undefined = nativeHmac,
): string {
  const match = SEALED.exec(sealed);
  if (!match) throw new DecryptionError("not a sealed value");
  const body = Buffer.from(match[2]!, "base64url");
  if (body.length < NONCE_BYTES + TAG_BYTES) throw new DecryptionError("too short");
  const iv = body.subarray(0, NONCE_BYTES);
  const ciphertext = body.subarray(NONCE_BYTES, body.length - TAG_BYTES);
  const tag = body.subarray(body.length - TAG_BYTES);
  // A key of another length takes Node's path, which refuses it as before (DecryptionError).
  if (addon && Buffer.isBuffer(key) && key.length === KEY_BYTES) {
    const clear = clearScratch(ciphertext.length); // not pooled: see sealWithKey
    try {
      if (!addon.gcmOpen(key, iv, ciphertext, tag, Buffer.from(aad), clear))
        throw new DecryptionError(`authentication failed (key "${match[1]}")`);
      return clear.toString("utf8");
    } finally {
      clear.fill(0);
    }
  }
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, iv);
    decipher.setAAD(Buffer.from(aad));
    decipher.setAuthTag(tag);
    const plaintext = decipher.update(ciphertext);
    decipher.final(); // GCM: no output; throws when the tag does not match
    return plaintext.toString("utf8");
  } catch {
    throw new DecryptionError(`authentication failed (key "${match[1]}")`);
  }
}

/** A copy of `bytes` in memory of its own (Buffer.from would put a small one in the shared pool). */
function unpooledCopy(bytes: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  bytes.copy(copy);
  return copy;
}

/**
 * One service's field encryption keys: seals with the current key (the first), opens with any.
 * Keys are 32 raw bytes, held as KeyObjects made once, or (with the native addon, which takes raw
 * keys) as copies of the bytes. Throws KeyConfigError (naming the key id,
 * never the key) on no key, a key that is not 32 bytes, a key id outside `[A-Za-z0-9_-]{1,32}`
 * (it could not be parsed back out of a sealed value) or a key id listed twice.
 */
export class FieldCipher {
  private readonly keys = new Map<string, KeyObject | Buffer>();
  /** The key id new values are sealed with. */
  readonly currentKid: string;

  /** @param addon the native addon: default the process's, `null` for Node's crypto. */
  constructor(
    keys: readonly { kid: string; secret: Buffer }[],
    private readonly addon: NativeHmac | null | undefined = nativeHmac,
  ) {
    if (keys.length === 0) throw new KeyConfigError("FieldCipher needs at least one key");
    for (const { kid, secret } of keys) {
      if (!KID_PATTERN.test(kid)) throw new KeyConfigError(`key id "${kid}": expected 1-32 of [A-Za-z0-9_-]`);
      if (this.keys.has(kid)) throw new KeyConfigError(`key id "${kid}" listed twice`);
      if (secret.length !== 32) throw new KeyConfigError(`key "${kid}": AES-256 needs 32 bytes`);
      // A copy in memory of its own, not in the shared pool of small Buffers (break45 L1).
      this.keys.set(kid, addon ? unpooledCopy(secret) : createSecretKey(secret));
    }
    this.currentKid = keys[0]!.kid;
  }

  /** The key ids this cipher opens, current first. */
  kids(): string[] {
    return [...this.keys.keys()];
  }

  seal(plaintext: string, aad: string): string {
    return sealWithKey(this.keys.get(this.currentKid)!, this.currentKid, plaintext, aad, this.addon);
  }

  open(sealed: string, aad: string): string {
    const kid = sealedKid(sealed);
    const key = kid === undefined ? undefined : this.keys.get(kid);
    if (!key) throw new DecryptionError(kid === undefined ? "not a sealed value" : `unknown key id "${kid}"`);
    return openWithKey(key, sealed, aad, this.addon);
  }
}
