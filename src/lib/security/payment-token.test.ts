import { describe, expect, it } from "vitest";
import { FieldCipher } from "./encryption.js";
import {
  generateTokenKeys,
  MemoryTokenKeyStore,
  publicRawBase64,
  tokenKeysFromEnv,
  tokenOpenerFromEnv,
  tokenSealerFromEnv,
} from "./payment-token.js";
import { generateKeyPairSync, randomBytes } from "node:crypto";

describe("payment tokens", () => {
  const keys = generateTokenKeys("pay-1");
  const env = { ...keys, NODE_ENV: "production" };

  it("only the holder of the payment private key opens a sealed token, and only for its order", async () => {
    const store = new MemoryTokenKeyStore();
    const sealed = await tokenSealerFromEnv(store, env).seal("o-1", "tok_ok_abc123");
    expect(sealed).toMatch(/^enc1\.[0-9a-f]{12}-pay-1\./);
    expect(sealed).not.toContain("tok_ok_abc123");
    const opener = tokenOpenerFromEnv(store, env);
    await expect(opener.open("o-1", sealed)).resolves.toBe("tok_ok_abc123");
    // Another order id (a copied value) does not open: the order id is the AAD and the HKDF salt.
    await store.put("o-2", sealed.slice(5, 17), (await store.get("o-1", sealed.slice(5, 17)))!);
    await expect(opener.open("o-2", sealed)).rejects.toThrow(/authentication failed/);
    // Another payment key pair does not open it either.
    const other = tokenOpenerFromEnv(store, { ...generateTokenKeys("pay-1"), NODE_ENV: "production" });
    await expect(other.open("o-1", sealed)).rejects.toThrow(/authentication failed/);
  });

  it("crypto-shredding: once the order's token key is deleted, nobody can open its token", async () => {
    const store = new MemoryTokenKeyStore();
    const sealer = tokenSealerFromEnv(store, env);
    const sealed = await sealer.seal("o-1", "tok_ok_abc123");
    await sealer.shred("o-1");
    await expect(tokenOpenerFromEnv(store, env).open("o-1", sealed)).rejects.toMatchObject({
      code: "DECRYPTION_FAILED",
      message: expect.stringMatching(/gone \(shredded\)/),
    });
  });

  it("rotation: the payment service opens tokens sealed with any of its listed keys", async () => {
    const store = new MemoryTokenKeyStore();
    const next = generateTokenKeys("pay-2");
    const old = await tokenSealerFromEnv(store, env).seal("o-1", "tok_a");
    const fresh = await tokenSealerFromEnv(store, { ...next, NODE_ENV: "production" }).seal("o-2", "tok_b");
    const both = { PAYMENT_TOKEN_KEYS: `${next.PAYMENT_TOKEN_KEYS},${keys.PAYMENT_TOKEN_KEYS}` };
    const opener = tokenOpenerFromEnv(store, { ...both, NODE_ENV: "production" });
    await expect(opener.open("o-1", old)).resolves.toBe("tok_a");
    await expect(opener.open("o-2", fresh)).resolves.toBe("tok_b");
  });

  it("production without keys refuses; development makes one ephemeral pair per process", () => {
    expect(() => tokenKeysFromEnv({ NODE_ENV: "production" }, "PAYMENT_TOKEN_KEYS")).toThrow(
      /PAYMENT_TOKEN_KEYS/,
    );
    const a = tokenKeysFromEnv({}, "PAYMENT_TOKEN_PUBLIC_KEY");
    expect(tokenKeysFromEnv({}, "PAYMENT_TOKEN_PUBLIC_KEY")).toBe(a);
  });
});

describe("field encryption (AES-256-GCM)", () => {
  const cipher = new FieldCipher([{ kid: "u1", secret: randomBytes(32) }]);

  it("a fresh nonce per encryption, bound to its context", () => {
    const a = cipher.seal("ada@example.com", "user:u-1");
    expect(cipher.seal("ada@example.com", "user:u-1")).not.toBe(a);
    expect(cipher.open(a, "user:u-1")).toBe("ada@example.com");
    expect(() => cipher.open(a, "user:u-2")).toThrow(/authentication failed/);
    expect(() => cipher.open(a.slice(0, -2) + (a.endsWith("A") ? "BB" : "AA"), "user:u-1")).toThrow();
  });
});

describe("publicRawBase64", () => {
  it("is the raw public key of the SPKI encoding, in standard base64", () => {
    for (let i = 0; i < 20; i++) {
      const { publicKey } = generateKeyPairSync("x25519");
      const spki = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
      expect(publicRawBase64(publicKey)).toBe(spki.toString("base64"));
    }
  });
});
