/**
 * HMAC-SHA256 (RFC 2104) of a string under one fixed key: H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ message)),
 * computed by the native addon from the two pads' midstates when the process has it
 * (native-hmac.ts: about half the CPU), else by two one-shot `crypto.hash` calls on reused buffers
 * (described below). Byte for byte the same MAC as
 * `createHmac("sha256", key).update(message).digest()` (hmac.test.ts checks it), at a lower and
 * steadier cost per message: `createHmac` builds a stream object and a native HMAC context per
 * call (about 2 µs before the first byte is hashed, plus the GC work of a native handle), while
 * `crypto.hash` is a plain function call. Signing and verifying run once per message on every
 * producer and consumer (bench/bus-security.ts, BENCHMARKS.md "What signing and encryption cost").
 *
 * Per message: the message is UTF-8 encoded once into a buffer that already holds (K ⊕ ipad), the
 * inner hash reads a view of that buffer cached per length (no Buffer object per call), and its
 * digest comes back as a 32-character "binary" string written behind (K ⊕ opad): no backing store
 * is allocated; the outer digest is the only string that survives the call.
 *
 * Not safe to share between concurrent calls in different threads (it is not: one per key, and
 * JavaScript runs one call at a time); the padded key lives in memory as the raw key does.
 */
import { hash } from "node:crypto";
import { type NativeHmac, nativeHmac } from "./native-hmac.js";

const BLOCK = 64;
/** Length of a tag: 32 bytes in base64url without padding. */
export const TAG_LENGTH = 43;
/**
 * Views of the inner hash's input are cached for inputs up to this many bytes (most envelopes): at
 * most this many small view objects per key (a few hundred KB if every length occurs; envelopes'
 * lengths cluster, so far fewer), each a window on the same buffer, none holding message bytes.
 */
const CACHED_VIEWS = 4096;
/**
 * A buffer grown past this for one big message is dropped after that call: a forged 200 MB body
 * (rejected only once its MAC is computed) would otherwise stay pinned per key, for good (break-sig
 * F1). Consumers also refuse envelopes over MAX_ENVELOPE_BYTES before verifying them.
 */
const RETAINED_BYTES = 64 * 1024;

export class HmacSha256 {
  /** (K ⊕ ipad) followed by room for the message: the inner hash's input. */
  private scratch: Buffer;
  /** `views[n]`: the first `n` bytes of `scratch`, made on first use. */
  private views: (Buffer | undefined)[] = [];
  /** (K ⊕ opad) followed by the inner digest: the outer hash's input. */
  private readonly outer = Buffer.alloc(BLOCK + 32);
  private readonly innerPad = Buffer.alloc(BLOCK, 0x36);
  /** The native addon and this key's two midstates, when the addon is in use (native-hmac.ts). */
  private readonly native: { addon: NativeHmac; state: Buffer } | undefined;

  /**
   * @param addon the native HMAC to use: default the process's (native-hmac.ts; undefined when it
   *   is not in use), `null` for Node's `crypto.hash` whatever the process has.
   */
  constructor(secret: Buffer, addon: NativeHmac | null | undefined = nativeHmac) {
    // RFC 2104: a key longer than the block is hashed first; a shorter one is zero-padded.
    const key = secret.length > BLOCK ? hash("sha256", secret, "buffer") : secret;
    this.outer.fill(0x5c, 0, BLOCK);
    for (let i = 0; i < key.length; i++) {
      this.innerPad[i] = this.innerPad[i]! ^ key[i]!;
      this.outer[i] = this.outer[i]! ^ key[i]!;
    }
    this.scratch = this.grow(BLOCK + CACHED_VIEWS + 4);
    const padded = Buffer.alloc(BLOCK);
    key.copy(padded);
    this.native = addon ? { addon, state: addon.prepare(padded) } : undefined;
    padded.fill(0);
  }

  /** Whether this instance computes its MACs with the native addon. */
  get usesNative(): boolean {
    return this.native !== undefined;
  }

  /** The MAC of `message` (UTF-8 encoded, as `Hmac.update(string)`), as 43 base64url characters. */
  tag(message: string): string {
    return this.release(this.finish(this.write(message)));
  }

  /** Bytes of message buffer this instance holds between calls (bounded by RETAINED_BYTES). */
  get bufferBytes(): number {
    return this.scratch.length;
  }

  /**
   * Whether `tag` is the MAC of `message`'s first `length` characters followed by `closing`, where
   * the characters from `length` on are ASCII (the caller has checked them) and `tag` is the
   * TAG_LENGTH characters of `message` from `tagAt`. Compares in constant time, without cutting
   * either string: a signed envelope's verification (signing.ts).
   */
  matchesTail(message: string, length: number, closing: number, tagAt: number): boolean {
    const written = this.write(message);
    const end = written - (message.length - length);
    // The tail is ASCII: the tag's bytes are just written, `message.length - tagAt` from the end.
    const tagBytes = written - (message.length - tagAt);
    this.scratch[end] = closing;
    return this.release(constantTimeEqualBytes(this.finish(end + 1), this.scratch, tagBytes));
  }

  /** Returns `result`, first dropping a buffer one big message grew past RETAINED_BYTES. */
  private release<T>(result: T): T {
    if (this.scratch.length > RETAINED_BYTES) {
      this.scratch = this.grow(BLOCK + CACHED_VIEWS + 4);
      this.views = [];
    }
    return result;
  }

  /** Writes `message` after the inner pad; returns the end offset of its bytes. */
  private write(message: string): number {
    let written = this.scratch.write(message, BLOCK);
    // `write` stops short when the buffer is full: a message that fits leaves at least 4 bytes free.
    if (BLOCK + written > this.scratch.length - 4) {
      this.scratch = this.grow(BLOCK + Buffer.byteLength(message) + 4096);
      this.views = [];
      written = this.scratch.write(message, BLOCK);
    }
    return BLOCK + written;
  }

  private finish(end: number): string {
    // The addon starts from the inner pad's midstate: it hashes only the message's bytes.
    if (this.native) return this.native.addon.tag(this.native.state, this.scratch, BLOCK, end);
    let input = end <= CACHED_VIEWS ? this.views[end] : undefined;
    if (input === undefined) {
      input = this.scratch.subarray(0, end);
      if (end <= CACHED_VIEWS) this.views[end] = input;
    }
    // The inner digest as a "binary" (latin1) string, not a Buffer: no backing store per call.
    this.outer.write(hash("sha256", input, "binary"), BLOCK, "latin1");
    return hash("sha256", this.outer, "base64url");
  }

  private grow(size: number): Buffer {
    const buffer = Buffer.alloc(size);
    this.innerPad.copy(buffer);
    return buffer;
  }
}

/** Compares two strings in time that depends only on their lengths (for MAC tags, never secrets' lengths). */
export function constantTimeEqual(a: string, b: string): boolean {
  return a.length === b.length && constantTimeEqualAt(a, b, 0);
}

/**
 * Whether `bytes` holds the (ASCII) characters of `a` at `offset` (the caller has checked there is
 * room), in time that depends only on `a`'s length. Reading a buffer is cheaper than `charCodeAt`
 * on the received string, and the verifier has just written that string's bytes there.
 */
function constantTimeEqualBytes(a: string, bytes: Buffer, offset: number): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ bytes[offset + i]!;
  return diff === 0;
}

/**
 * Whether `b` holds `a` at `offset` (`b` is long enough: the caller has checked), in time that
 * depends only on `a`'s length.
 */
function constantTimeEqualAt(a: string, b: string, offset: number): boolean {
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(offset + i);
  return diff === 0;
}
