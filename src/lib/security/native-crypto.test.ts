import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DecryptionError, FieldCipher, openWithKey, sealWithKey } from "./encryption.js";
import { aeadSelfTest, type NativeHmac, nativeHmac } from "./native-hmac.js";
import { hkdfSha256x32 } from "./payment-token.js";

/** Node's AES-256-GCM: ciphertext ‖ tag. */
function nodeSeal(key: Buffer, iv: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function nodeOpen(key: Buffer, iv: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

const LENGTHS = [0, 1, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 100, 1000, 70_000];

describe.runIf(nativeHmac)("the native addon's HKDF-SHA256 and AES-256-GCM", () => {
  const addon = nativeHmac!;

  it("hkdf32 gives hkdfSync's 32 bytes for keys, salts and infos of every size (over a block: hashed, RFC 2104)", () => {
    for (const ikmLength of [0, 1, 32, 64, 65, 200])
      for (const saltLength of [0, 1, 36, 64, 65, 130])
        for (const infoLength of [0, 27, 59, 63, 64, 300]) {
          const [ikm, salt, info] = [
            randomBytes(ikmLength),
            randomBytes(saltLength),
            randomBytes(infoLength),
          ];
          const out = Buffer.alloc(32);
          addon.hkdf32(ikm, salt, info, out);
          expect(
            out.equals(Buffer.from(hkdfSync("sha256", ikm, salt, info, 32))),
            `${ikmLength}/${saltLength}/${infoLength}`,
          ).toBe(true);
        }
  });

  it("gcmSeal gives createCipheriv's ciphertext and tag, and each opens the other's, at every length", () => {
    for (const length of LENGTHS)
      for (const aadLength of [0, 36, 100]) {
        const [key, iv, plaintext, aad] = [
          randomBytes(32),
          randomBytes(12),
          randomBytes(length),
          randomBytes(aadLength),
        ];
        const sealed = Buffer.alloc(length + 16);
        addon.gcmSeal(key, iv, plaintext, aad, sealed);
        expect(sealed.equals(nodeSeal(key, iv, plaintext, aad)), `${length}/${aadLength}`).toBe(true);
        expect(nodeOpen(key, iv, sealed, aad).equals(plaintext)).toBe(true);
        const opened = Buffer.alloc(length);
        expect(addon.gcmOpen(key, iv, sealed.subarray(0, length), sealed.subarray(length), aad, opened)).toBe(
          true,
        );
        expect(opened.equals(plaintext)).toBe(true);
      }
  });

  it("gcmOpen refuses an altered ciphertext, tag, nonce, key or AAD, and hands out zeros, not the unauthenticated plaintext", () => {
    const [key, iv, aad] = [randomBytes(32), randomBytes(12), Buffer.from("order-1")];
    const plaintext = Buffer.from("tok_ok__0123456789abcdef");
    const sealed = nodeSeal(key, iv, plaintext, aad);
    const flip = (bytes: Buffer, at: number) => {
      const copy = Buffer.from(bytes);
      copy[at] = copy[at]! ^ 1;
      return copy;
    };
    const n = plaintext.length;
    const cases: [string, Buffer, Buffer, Buffer, Buffer, Buffer][] = [
      ["ciphertext", key, iv, flip(sealed, 3).subarray(0, n), sealed.subarray(n), aad],
      ["tag", key, iv, sealed.subarray(0, n), flip(sealed, n + 15).subarray(n), aad],
      ["nonce", key, flip(iv, 0), sealed.subarray(0, n), sealed.subarray(n), aad],
      ["key", flip(key, 31), iv, sealed.subarray(0, n), sealed.subarray(n), aad],
      ["aad", key, iv, sealed.subarray(0, n), sealed.subarray(n), Buffer.from("order-2")],
    ];
    for (const [what, k, v, ciphertext, tag, a] of cases) {
      const out = Buffer.alloc(n, 0xaa);
      expect(addon.gcmOpen(k, v, ciphertext, tag, a, out), what).toBe(false);
      expect(out.equals(Buffer.alloc(n)), what).toBe(true);
    }
  });

  it("refuses wrong sizes and types with a TypeError, and touches no memory outside the buffers given", () => {
    const [key, iv, data] = [Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(8)];
    const calls: [string, () => unknown][] = [
      ["short key", () => addon.gcmSeal(Buffer.alloc(31), iv, data, data, Buffer.alloc(24))],
      ["long iv", () => addon.gcmSeal(key, Buffer.alloc(16), data, data, Buffer.alloc(24))],
      ["small out", () => addon.gcmSeal(key, iv, data, data, Buffer.alloc(23))],
      ["large out", () => addon.gcmSeal(key, iv, data, data, Buffer.alloc(25))],
      [
        "string plaintext",
        () => addon.gcmSeal(key, iv, "secret" as unknown as Buffer, data, Buffer.alloc(22)),
      ],
      ["short tag", () => addon.gcmOpen(key, iv, data, Buffer.alloc(12), data, Buffer.alloc(8))],
      ["open out size", () => addon.gcmOpen(key, iv, data, Buffer.alloc(16), data, Buffer.alloc(9))],
      [
        "missing argument",
        () => (addon.gcmOpen as (...args: unknown[]) => boolean)(key, iv, data, Buffer.alloc(16), data),
      ],
      ["hkdf out", () => addon.hkdf32(data, data, data, Buffer.alloc(31))],
      ["hkdf ikm", () => addon.hkdf32(null as unknown as Buffer, data, data, Buffer.alloc(32))],
    ];
    for (const [what, call] of calls) expect(call, what).toThrow(TypeError);
    // A view into a larger buffer: only its own bytes are written.
    const backing = Buffer.alloc(64, 0xee);
    addon.gcmSeal(key, iv, data, data, backing.subarray(10, 34));
    expect(backing.subarray(0, 10).equals(Buffer.alloc(10, 0xee))).toBe(true);
    expect(backing.subarray(34).equals(Buffer.alloc(30, 0xee))).toBe(true);
  });

  it("refuses an out that partly overlaps the plaintext or ciphertext (a wrong seal with a valid tag: break45 H1), and seals in place", () => {
    const [key, iv, aad] = [randomBytes(32), randomBytes(12), Buffer.from("o")];
    const plaintext = randomBytes(1000);
    for (const shift of [1, 5, 16, 17]) {
      const shared = Buffer.alloc(1000 + 16 + shift);
      plaintext.copy(shared);
      expect(
        () => addon.gcmSeal(key, iv, shared.subarray(0, 1000), aad, shared.subarray(shift)),
        `seal +${shift}`,
      ).toThrow(/must not partly overlap the plaintext/);
      const sealed = nodeSeal(key, iv, plaintext, aad);
      const both = Buffer.alloc(1000 + shift);
      sealed.copy(both, 0, 0, 1000);
      expect(
        () =>
          addon.gcmOpen(key, iv, both.subarray(0, 1000), sealed.subarray(1000), aad, both.subarray(shift)),
        `open +${shift}`,
      ).toThrow(/must not partly overlap the ciphertext/);
    }
    // In place (out starts where the input starts): the same bytes as Node's, and it opens in place.
    const inPlace = Buffer.alloc(1016);
    plaintext.copy(inPlace);
    addon.gcmSeal(key, iv, inPlace.subarray(0, 1000), aad, inPlace);
    expect(inPlace.equals(nodeSeal(key, iv, plaintext, aad))).toBe(true);
    const text = inPlace.subarray(0, 1000);
    expect(addon.gcmOpen(key, iv, text, Buffer.from(inPlace.subarray(1000)), aad, text)).toBe(true);
    expect(text.equals(plaintext)).toBe(true);
  });

  it("leaves neither a FieldCipher's key nor a sealed or opened plaintext in the pool small Buffers share (break45 L1, L2)", () => {
    const secret = Buffer.alloc(32, 0x5a);
    secret.write("distinctive-field-cipher-key", "latin1");
    const cipher = new FieldCipher([{ kid: "k1", secret }], addon);
    const plaintext = "tok_pooled_plaintext_0123456789";
    expect(cipher.open(cipher.seal(plaintext, "o"), "o")).toBe(plaintext);
    // Any small Buffer is a view of the current pool: its `.buffer` is all of it. The needles are
    // made outside the pool (Buffer.alloc), or they would be found there themselves.
    const pool = Buffer.from(Buffer.from("x").buffer);
    const needle = Buffer.alloc(plaintext.length);
    needle.write(plaintext);
    expect(pool.includes(secret)).toBe(false);
    expect(pool.includes(needle)).toBe(false);
  });

  it("the loader's self-test passes the built addon and names a wrong HKDF, a wrong seal, an open that accepts anything, or none at all", () => {
    expect(aeadSelfTest(addon)).toBeUndefined();
    const broken = (change: Partial<NativeHmac>): NativeHmac => ({ ...addon, ...change });
    expect(aeadSelfTest(broken({ hkdf32: (ikm, salt, info, out) => out.fill(1) }))).toMatch(
      /HKDF-SHA256 is not Node's/,
    );
    expect(
      aeadSelfTest(
        broken({
          gcmSeal: (key, iv, plaintext, aad, out) => {
            addon.gcmSeal(key, iv, plaintext, aad, out);
            out[0] = out[0]! ^ 1;
          },
        }),
      ),
    ).toMatch(/AES-256-GCM is not Node's/);
    expect(
      aeadSelfTest(
        broken({
          gcmOpen: (key, iv, ciphertext, tag, aad, out) => {
            addon.gcmOpen(key, iv, ciphertext, Buffer.from(tag), aad, out);
            return true;
          },
        }),
      ),
    ).toMatch(/opens an altered seal/);
    const { prepare, tag } = addon;
    expect(aeadSelfTest({ prepare, tag } as NativeHmac)).toMatch(/an older build.*npm rebuild/);
  });
});

describe("sealed values are the same with and without the native addon", () => {
  const implementations: [string, NativeHmac | null][] = [["Node's crypto", null]];
  if (nativeHmac) implementations.push(["native addon", nativeHmac]);

  it.each(implementations)(
    "sealed with %s, they open with every implementation (Buffer and KeyObject keys), bound to their AAD",
    (_, sealer) => {
      const secret = randomBytes(32);
      for (const text of ["", "tok_ok__0123456789abcdef", "ünïcødé ✓ +44 20 7946 0000", "x".repeat(5000)]) {
        const sealed = sealWithKey(secret, "k1", text, "order-1", sealer);
        for (const [, opener] of implementations) {
          expect(openWithKey(secret, sealed, "order-1", opener)).toBe(text);
          expect(() => openWithKey(secret, sealed, "order-2", opener)).toThrow(DecryptionError);
        }
        expect(new FieldCipher([{ kid: "k1", secret }], null).open(sealed, "order-1")).toBe(text);
      }
    },
  );

  it.each(implementations)(
    "with %s, an altered sealed value is a DecryptionError that names the key, never the value",
    (_, addon) => {
      const secret = randomBytes(32);
      const sealed = sealWithKey(secret, "k1", "tok_secret_value", "o", addon);
      const body = Buffer.from(sealed.slice("enc1.k1.".length), "base64url");
      body[14] = body[14]! ^ 1;
      const altered = `enc1.k1.${body.toString("base64url")}`;
      let thrown: unknown;
      try {
        openWithKey(secret, altered, "o", addon);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DecryptionError);
      expect((thrown as Error).message).toBe('cannot decrypt: authentication failed (key "k1")');
    },
  );

  it.each(implementations)(
    "with %s, a key that is not 32 bytes is refused as Node refuses it: RangeError to seal, DecryptionError to open (break45 L3)",
    (_, addon) => {
      const sealed = sealWithKey(randomBytes(32), "k1", "tok", "o", null);
      for (const length of [16, 31, 33]) {
        expect(() => sealWithKey(randomBytes(length), "k1", "tok", "o", addon)).toThrow(RangeError);
        expect(() => openWithKey(randomBytes(length), sealed, "o", addon)).toThrow(DecryptionError);
      }
    },
  );

  it.each(implementations)(
    "a FieldCipher with %s seals what one with the other opens, across a key rotation",
    (_, addon) => {
      const [old, fresh] = [randomBytes(32), randomBytes(32)];
      const before = new FieldCipher([{ kid: "old", secret: old }], addon);
      const sealed = before.seal("+44 20 7946 0000", "user-1");
      for (const [, other] of implementations) {
        const after = new FieldCipher(
          [
            { kid: "new", secret: fresh },
            { kid: "old", secret: old },
          ],
          other,
        );
        expect(after.open(sealed, "user-1")).toBe("+44 20 7946 0000");
        expect(after.open(after.seal("a@example.com", "user-1"), "user-1")).toBe("a@example.com");
      }
    },
  );

  it.each(implementations)("hkdfSha256x32 with %s is hkdfSync's (an order id salt, UTF-8)", (_, addon) => {
    const ikm = randomBytes(32);
    const info = randomBytes(59);
    for (const salt of ["01a20c5e-0000-7000-8000-000000000001", "", "ørder-ü"])
      expect(
        hkdfSha256x32(ikm, salt, info, addon).equals(Buffer.from(hkdfSync("sha256", ikm, salt, info, 32))),
      ).toBe(true);
  });
});
