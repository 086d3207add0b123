import { createHmac, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { constantTimeEqual, HmacSha256 as ProcessHmac } from "./hmac.js";
import { NATIVE_HMAC_PATH, type NativeHmac, nativeHmac, nativeHmacUnavailable } from "./native-hmac.js";

const reference = (key: Buffer, message: string) =>
  createHmac("sha256", key).update(message).digest("base64url");

/**
 * Every behaviour below holds for both ways of computing the MAC: Node's one-shot hashes and the
 * native addon (when built: CI requires it with BUS_NATIVE_HMAC=1).
 */
const implementations: [string, NativeHmac | null][] = [["crypto.hash", null]];
if (nativeHmac) implementations.push(["native addon", nativeHmac]);

describe.each(implementations)("with %s", (_name, addon) => {
  class HmacSha256 extends ProcessHmac {
    constructor(secret: Buffer) {
      super(secret, addon);
    }
  }

  it("computes with the implementation named (null: crypto.hash even where the addon is loaded)", () => {
    expect(new HmacSha256(randomBytes(32)).usesNative).toBe(addon !== null);
  });

  describe("HmacSha256 (two one-shot hashes)", () => {
    it("gives Node's createHmac MAC for keys shorter, equal to and longer than the block", () => {
      for (const length of [1, 32, 63, 64, 65, 200]) {
        const key = randomBytes(length);
        const mac = new HmacSha256(key);
        for (const message of ["", "{}", '{"a":"é€😀"}', "x".repeat(5000), "y".repeat(100_000)])
          expect(mac.tag(message), `key ${length} bytes, message ${message.length} chars`).toBe(
            reference(key, message),
          );
      }
    });

    it("gives the same MAC again after a long message grew its buffer (no state carried over)", () => {
      const key = randomBytes(32);
      const mac = new HmacSha256(key);
      const short = '{"id":"m1","payload":{"orderId":"o-1"}}';
      const first = mac.tag(short);
      mac.tag("z".repeat(20_000));
      expect(mac.tag(short)).toBe(first);
      expect(first).toBe(reference(key, short));
    });

    it("RFC 4231 test case 2", () => {
      const mac = new HmacSha256(Buffer.from("Jefe"));
      expect(Buffer.from(mac.tag("what do ya want for nothing?"), "base64url").toString("hex")).toBe(
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
      );
    });

    it("compares equal strings as equal, any differing character or length as different", () => {
      expect(constantTimeEqual("abc", "abc")).toBe(true);
      expect(constantTimeEqual("abc", "abd")).toBe(false);
      expect(constantTimeEqual("abc", "ab")).toBe(false);
    });
  });

  describe("HmacSha256.matchesTail", () => {
    const tail = (tag: string) => `,"sig":"k1.${tag}"}`;
    const signedForm = (mac: HmacSha256, head: string) => `${head}${tail(mac.tag(`${head}}`))}`;

    it("accepts the MAC of the message with its ASCII tail replaced, after non-ASCII content too", () => {
      const mac = new HmacSha256(randomBytes(32));
      for (const head of ['{"a":1', '{"name":"Zoë ✓ 😀"', `{"x":"${"é".repeat(3000)}"`]) {
        const message = signedForm(mac, head);
        expect(mac.matchesTail(message, head.length, 0x7d, message.length - 45)).toBe(true);
      }
    });

    it("rejects another key's MAC, a changed character before the tail and a changed tag character", () => {
      const mac = new HmacSha256(randomBytes(32));
      const other = new HmacSha256(randomBytes(32));
      const head = '{"orderId":"o-1","name":"Zoë"';
      const check = (message: string) => mac.matchesTail(message, head.length, 0x7d, message.length - 45);
      expect(check(signedForm(other, head))).toBe(false);
      expect(check(signedForm(mac, head).replace("o-1", "o-2"))).toBe(false);
      expect(check(signedForm(mac, head).replace("Zoë", "Zoé"))).toBe(false);
      const good = signedForm(mac, head);
      const at = good.length - 10;
      const flipped = `${good.slice(0, at)}${good[at] === "A" ? "B" : "A"}${good.slice(at + 1)}`;
      expect(check(flipped)).toBe(false);
    });
  });

  describe("HmacSha256 buffer reuse", () => {
    it("gives the right MAC for a message of a length seen before the buffer grew", () => {
      const key = randomBytes(32);
      const mac = new HmacSha256(key);
      expect(mac.tag('{"a":"1"}')).toBe(reference(key, '{"a":"1"}'));
      mac.tag("w".repeat(30_000));
      // Same length as the first message, other bytes: no view of the old buffer may be reused.
      expect(mac.tag('{"a":"2"}')).toBe(reference(key, '{"a":"2"}'));
    });
  });

  describe("HmacSha256 memory after an oversized message", () => {
    it("drops the buffer a forged 8 MB body grew, after its (failed) check: later calls hold 64 KiB at most", () => {
      const key = randomBytes(32);
      const mac = new HmacSha256(key);
      const head = `{"p":"${"x".repeat(8 * 1024 * 1024)}"`;
      const forged = `${head},"sig":"k.${"A".repeat(43)}"}`;
      expect(mac.matchesTail(forged, head.length, 0x7d, forged.length - 45)).toBe(false);
      expect(mac.bufferBytes).toBeLessThanOrEqual(64 * 1024);
      // Still the right MAC, for big and small messages alike.
      expect(mac.tag(head)).toBe(reference(key, head));
      expect(mac.bufferBytes).toBeLessThanOrEqual(64 * 1024);
      expect(mac.tag("{}")).toBe(reference(key, "{}"));
    });
  });
});

describe("the native HMAC addon", () => {
  it("is in use whenever it was built and BUS_NATIVE_HMAC is not 0 (a broken build is not silently skipped)", () => {
    if (process.env.BUS_NATIVE_HMAC === "0") return;
    if (process.env.BUS_NATIVE_HMAC === "1" || existsSync(NATIVE_HMAC_PATH)) {
      expect(nativeHmacUnavailable).toBeUndefined();
      expect(new ProcessHmac(randomBytes(32)).usesNative).toBe(true);
    }
  });

  it.runIf(nativeHmac)(
    "refuses a padded key that is not 64 bytes, a foreign state and bounds outside the data",
    () => {
      const addon = nativeHmac!;
      const state = addon.prepare(Buffer.alloc(64, 7));
      expect(() => addon.prepare(Buffer.alloc(32))).toThrow(TypeError);
      expect(() => addon.tag(Buffer.alloc(10), Buffer.from("x"), 0, 1)).toThrow(TypeError);
      expect(() => addon.tag(state, Buffer.from("abc"), 0, 4)).toThrow(RangeError);
      expect(() => addon.tag(state, Buffer.from("abc"), 2, 1)).toThrow(RangeError);
      expect(() => addon.tag(state, "abc" as unknown as Buffer, 0, 1)).toThrow(TypeError);
      // A state edited so that OpenSSL would index past its block buffer is refused, not used.
      const edited = Buffer.from(state);
      edited.writeUInt32LE(0xffff, 104); // SHA256_CTX.num (after h[8], Nl, Nh, data[16])
      expect(() => addon.tag(edited, Buffer.from("abc"), 0, 3)).toThrow(TypeError);
      // A copy of prepare()'s state is still accepted, and gives the key's real MAC.
      expect(addon.tag(Buffer.from(state), Buffer.from("abc"), 0, 3)).toBe(
        createHmac("sha256", Buffer.alloc(64, 7)).update("abc").digest("base64url"),
      );
    },
  );

  it.runIf(nativeHmac)("gives createHmac's MAC of any byte range, for random keys and lengths", () => {
    for (let i = 0; i < 200; i++) {
      const key = randomBytes(1 + (i % 64));
      const padded = Buffer.alloc(64);
      key.copy(padded);
      const data = randomBytes(i * 7);
      const start = i % 5 === 0 ? 0 : Math.min(data.length, i % 13);
      const expected = createHmac("sha256", key).update(data.subarray(start)).digest("base64url");
      expect(nativeHmac!.tag(nativeHmac!.prepare(padded), data, start, data.length)).toBe(expected);
    }
  });
});
