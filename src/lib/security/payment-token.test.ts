import { describe, expect, it, vi } from "vitest";
import { isRetryable } from "../bus/errors.js";
import { FieldCipher, openWithKey, sealedKid, sealWithKey } from "./encryption.js";
import {
  AGREEMENT_CACHE,
  generateTokenKeys,
  hkdfSha256x32,
  MemoryTokenKeyStore,
  publicRawBase64,
  tokenKeysFromEnv,
  tokenOpenerFromEnv,
  type TokenKeyStore,
  tokenSealerFromEnv,
} from "./payment-token.js";
import {
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
} from "node:crypto";

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

  it("discard removes the entry of one sealed token; the order's other tokens still open", async () => {
    const store = new MemoryTokenKeyStore();
    const sealer = tokenSealerFromEnv(store, env);
    const kept = await sealer.seal("o-1", "tok_ok_kept");
    const unused = await sealer.seal("o-1", "tok_ok_unused");
    await sealer.discard("o-1", unused);
    const opener = tokenOpenerFromEnv(store, env);
    await expect(opener.open("o-1", unused)).rejects.toThrow(/gone \(shredded\)/);
    await expect(opener.open("o-1", kept)).resolves.toBe("tok_ok_kept");
    await sealer.discard("o-1", kept);
    expect(store.size).toBe(0);
  });

  it("readKey reads the order's key entry without decrypting: the token is in clear only from open()", async () => {
    const store = new MemoryTokenKeyStore();
    const sealer = tokenSealerFromEnv(store, env);
    const sealed = await sealer.seal("o-1", "tok_ok_abc123");
    const opener = tokenOpenerFromEnv(store, env);
    // An altered ciphertext: the key entry reads, only opening it fails (nothing was decrypted before).
    const altered = `${sealed.slice(0, -4)}${sealed.endsWith("AAAA") ? "BBBB" : "AAAA"}`;
    const read = await opener.readKey("o-1", altered);
    expect(() => read.open()).toThrow(/authentication failed/);
    expect((await opener.readKey("o-1", sealed)).open()).toBe("tok_ok_abc123");
    await sealer.shred("o-1");
    await expect(opener.readKey("o-1", sealed)).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
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

  it("one ephemeral key serves a batch of tokens, each opened only with its own order's entry", async () => {
    const store = new MemoryTokenKeyStore();
    const sealer = tokenSealerFromEnv(store, env);
    const a = await sealer.seal("o-a", "tok_a");
    const b = await sealer.seal("o-b", "tok_b");
    const entryA = (await store.get("o-a", a.slice(5, 17)))!;
    const entryB = (await store.get("o-b", b.slice(5, 17)))!;
    // One key pair and ECDH for both (the cost saved), each entry with a secret of its own.
    expect(entryA.split(".")[0]).toBe(entryB.split(".")[0]);
    expect(entryA).not.toBe(entryB);
    const opener = tokenOpenerFromEnv(store, env);
    await expect(opener.open("o-a", a)).resolves.toBe("tok_a");
    // Shredded: the other order's entry (same ephemeral public key, other secret) does not open it.
    await sealer.shred("o-a");
    await store.put("o-a", a.slice(5, 17), entryB);
    await expect(opener.open("o-a", a)).rejects.toThrow(/authentication failed/);
    await store.put("o-a", a.slice(5, 17), entryB.split(".")[0]!);
    await expect(opener.open("o-a", a)).rejects.toThrow(/authentication failed/);
    await expect(opener.open("o-b", b)).resolves.toBe("tok_b");
  });

  it("a new ephemeral key once the batch has served its uses or its time", async () => {
    const store = new MemoryTokenKeyStore();
    let now = 0;
    const sealer = tokenSealerFromEnv(store, env, { batchUses: 2, batchMs: 1_000, now: () => now });
    const ephemeralOf = async (orderId: string) => {
      const sealed = await sealer.seal(orderId, "tok_x");
      return (await store.get(orderId, sealed.slice(5, 17)))!.split(".")[0];
    };
    const first = await ephemeralOf("o-1");
    expect(await ephemeralOf("o-2")).toBe(first);
    const third = await ephemeralOf("o-3"); // third use: a new pair
    expect(third).not.toBe(first);
    now = 999;
    expect(await ephemeralOf("o-4")).toBe(third);
    now = 1_000; // the batch's time is up
    expect(await ephemeralOf("o-5")).not.toBe(third);
  });

  it("a batch's agreement is dropped when its time is up, even with no seal to replace it", async () => {
    vi.useFakeTimers();
    try {
      const store = new MemoryTokenKeyStore();
      const sealer = tokenSealerFromEnv(store, env, { batchMs: 50, now: () => 0 });
      const ephemeralOf = async (orderId: string) => {
        const sealed = await sealer.seal(orderId, "tok_x");
        return (await store.get(orderId, sealed.slice(5, 17)))!.split(".")[0];
      };
      const first = await ephemeralOf("o-1");
      expect(await ephemeralOf("o-2")).toBe(first);
      vi.advanceTimersByTime(50);
      expect(await ephemeralOf("o-3")).not.toBe(first);
    } finally {
      vi.useRealTimers();
    }
  });

  it("opens tokens sealed in the v1 format (a key pair per token, the entry its public key alone)", async () => {
    const store = new MemoryTokenKeyStore();
    const paymentPublic = createPublicKey({
      key: Buffer.concat([
        Buffer.from("302a300506032b656e032100", "hex"),
        Buffer.from(keys.PAYMENT_TOKEN_PUBLIC_KEY.split(":")[1]!, "base64"),
      ]),
      format: "der",
      type: "spki",
    });
    const ephemeral = generateKeyPairSync("x25519");
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: paymentPublic });
    const key = createSecretKey(
      Buffer.from(hkdfSync("sha256", shared, "o-v1", Buffer.from("ordersaga payment token v1"), 32)),
    );
    const sealed = sealWithKey(key, "0123456789ab-pay-1", "tok_v1", "o-v1");
    await store.put("o-v1", "0123456789ab", publicRawBase64(ephemeral.publicKey));
    await expect(tokenOpenerFromEnv(store, env).open("o-v1", sealed)).resolves.toBe("tok_v1");
  });

  /**
   * The opener of a payment service older than v2 (main at 5422085), as it was: the whole entry
   * decoded as the ephemeral public key, hkdfSync with the v1 info, no entry secret.
   */
  function preV2Opener(store: TokenKeyStore, privateKeys: string) {
    const [kid = "", b64 = ""] = privateKeys.split(":");
    const privateKey = createPrivateKey({
      key: Buffer.concat([
        Buffer.from("302e020100300506032b656e04220420", "hex"),
        Buffer.from(b64, "base64"),
      ]),
      format: "der",
      type: "pkcs8",
    });
    return async (orderId: string, sealed: string): Promise<string> => {
      const kidField = sealedKid(sealed)!;
      expect(kidField.slice(13)).toBe(kid);
      const ephemeral = (await store.get(orderId, kidField.slice(0, 12)))!;
      const publicKey = createPublicKey({
        key: Buffer.concat([
          Buffer.from("302a300506032b656e032100", "hex"),
          Buffer.from(ephemeral, "base64"),
        ]),
        format: "der",
        type: "spki",
      });
      const shared = diffieHellman({ privateKey, publicKey });
      const info = Buffer.from("ordersaga payment token v1");
      return openWithKey(
        createSecretKey(Buffer.from(hkdfSync("sha256", shared, orderId, info, 32))),
        sealed,
        orderId,
      );
    };
  }

  it("PAYMENT_TOKEN_SEAL_FORMAT=v1: a pre-v2 payment service opens what the new order service seals", async () => {
    const store = new MemoryTokenKeyStore();
    const oldOpen = preV2Opener(store, keys.PAYMENT_TOKEN_KEYS);
    // The default (v2) is what a pre-v2 payment service cannot open (break-gateway finding 1).
    const v2 = await tokenSealerFromEnv(store, env).seal("o-v2", "tok_v2");
    await expect(oldOpen("o-v2", v2)).rejects.toThrow(/authentication failed/);

    const sealer = tokenSealerFromEnv(store, env, { format: "v1" });
    const a = await sealer.seal("o-a", "tok_canary_a");
    const b = await sealer.seal("o-b", "tok_canary_b");
    await expect(oldOpen("o-a", a)).resolves.toBe("tok_canary_a");
    await expect(oldOpen("o-b", b)).resolves.toBe("tok_canary_b");
    // A key pair per token (v1 has no entry secret: a shared ephemeral key would open other orders).
    const entryA = (await store.get("o-a", a.slice(5, 17)))!;
    const entryB = (await store.get("o-b", b.slice(5, 17)))!;
    expect(entryA).not.toContain(".");
    expect(entryA).not.toBe(entryB);
    // The new payment service opens them too, and shredding holds.
    const opener = tokenOpenerFromEnv(store, env);
    await expect(opener.open("o-a", a)).resolves.toBe("tok_canary_a");
    await sealer.shred("o-a");
    await expect(opener.open("o-a", a)).rejects.toThrow(/gone \(shredded\)/);
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
    // Flip one bit of the sealed bytes (decoded, then re-encoded): editing the base64url text's last
    // characters can touch only the encoding's unused low bits and leave the bytes as they were.
    const dot = a.lastIndexOf(".");
    const body = Buffer.from(a.slice(dot + 1), "base64url");
    for (const at of [0, body.length - 1]) {
      const tampered = Buffer.from(body);
      tampered[at] = tampered[at]! ^ 0x01;
      const forged = `${a.slice(0, dot + 1)}${tampered.toString("base64url")}`;
      expect(() => cipher.open(forged, "user:u-1")).toThrow(/authentication failed/);
    }
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

describe("hkdfSha256x32", () => {
  it("derives the bytes of node's hkdfSync for a 32-byte output", () => {
    for (let i = 0; i < 20; i++) {
      const ikm = randomBytes(32);
      const info = randomBytes(i * 3);
      const salt = `order-${i}-${randomBytes(4).toString("hex")}`;
      expect(hkdfSha256x32(ikm, salt, info)).toEqual(Buffer.from(hkdfSync("sha256", ikm, salt, info, 32)));
    }
  });
});

describe("low-order X25519 keys (break46 F5)", () => {
  const keys = generateTokenKeys("pay-1");
  const env = { ...keys, NODE_ENV: "production" };
  // RFC 7748 §6.1: these give an all-zero shared secret, which OpenSSL refuses.
  const lowOrder: [string, Buffer][] = [
    ["32 zero bytes", Buffer.alloc(32)],
    ["u = 1", Buffer.concat([Buffer.of(1), Buffer.alloc(31)])],
  ];

  it.each(lowOrder)(
    "an entry whose ephemeral key is %s fails as DECRYPTION_FAILED (not retried), never OpenSSL's error",
    async (_name, raw) => {
      const store = new MemoryTokenKeyStore();
      const sealed = await tokenSealerFromEnv(store, env).seal("o-1", "tok_ok_abc123");
      const sealId = sealed.slice(5, 17);
      const entry = (await store.get("o-1", sealId))!;
      await store.put("o-1", sealId, `${raw.toString("base64")}.${entry.split(".")[1]}`);
      const key = await tokenOpenerFromEnv(store, env).readKey("o-1", sealed);
      let thrown: unknown;
      try {
        key.open();
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toMatchObject({
        code: "DECRYPTION_FAILED",
        message: expect.stringMatching(/no X25519 agreement/),
      });
      expect(isRetryable(thrown)).toBe(false);
    },
  );

  it.each(lowOrder)(
    "a PAYMENT_TOKEN_PUBLIC_KEY of %s is refused at start (INVALID_KEY_CONFIG)",
    (_name, raw) => {
      const setting = { PAYMENT_TOKEN_PUBLIC_KEY: `pay-1:${raw.toString("base64")}`, NODE_ENV: "production" };
      expect(() => tokenSealerFromEnv(new MemoryTokenKeyStore(), setting)).toThrow(
        expect.objectContaining({
          code: "INVALID_KEY_CONFIG",
          message: expect.stringMatching(/pay-1.*low-order/),
        }),
      );
    },
  );
});

describe("payment token key settings", () => {
  it("a private key pasted without its key id is named by position, never echoed (break44 F1)", () => {
    const raw = keysOf(generateTokenKeys("pay-1").PAYMENT_TOKEN_KEYS);
    const store = new MemoryTokenKeyStore();
    for (const value of [raw, `pay-1:${raw}:x`]) {
      const env = { PAYMENT_TOKEN_KEYS: value, NODE_ENV: "production" };
      expect(() => tokenOpenerFromEnv(store, env)).toThrow(
        /PAYMENT_TOKEN_KEYS: expected .* \(key entry 1, \d fields?/,
      );
      expect(() => tokenOpenerFromEnv(store, env)).not.toThrow(raw.slice(0, 8));
    }
  });
});

const keysOf = (setting: string) => setting.split(":")[1]!;

describe("the payment service's batch agreements", () => {
  const keys = generateTokenKeys("pay-1");
  const env = { ...keys, NODE_ENV: "production" };

  it("opens every token of a batch with one X25519 agreement, each only with its own order's entry", async () => {
    const store = new MemoryTokenKeyStore();
    const sealer = tokenSealerFromEnv(store, env);
    const ids = ["o-1", "o-2", "o-3"];
    const sealed = await Promise.all(ids.map((id) => sealer.seal(id, `tok_ok_${id}`)));
    const payment = tokenOpenerFromEnv(store, env, { now: () => 0 });
    for (const [i, id] of ids.entries())
      await expect(payment.open(id, sealed[i]!)).resolves.toBe(`tok_ok_${id}`);
    expect(payment.agreementStats).toEqual({ computed: 1, held: 1 });
    // The agreement held does not open a token whose entry is gone: the entry secret is its own.
    await sealer.shred("o-2");
    await expect(payment.open("o-2", sealed[1]!)).rejects.toThrow(/gone \(shredded\)/);
    // Nor another order's token under a copied entry.
    await store.put("o-9", sealed[0]!.slice(5, 17), (await store.get("o-1", sealed[0]!.slice(5, 17)))!);
    await expect(payment.open("o-9", sealed[0]!)).rejects.toThrow(/authentication failed/);
  });

  it(`holds an agreement ${AGREEMENT_CACHE.ms} ms and at most ${AGREEMENT_CACHE.entries} of them`, async () => {
    const store = new MemoryTokenKeyStore();
    let t = 0;
    const first = await tokenSealerFromEnv(store, env).seal("o-1", "tok_ok_first");
    const payment = tokenOpenerFromEnv(store, env, { now: () => t });
    await payment.open("o-1", first);
    t = AGREEMENT_CACHE.ms;
    await expect(payment.open("o-1", first)).resolves.toBe("tok_ok_first");
    expect(payment.agreementStats).toEqual({ computed: 2, held: 1 });
    // A batch per seal: every open agrees, and no more than the bound is held.
    const oneEach = tokenSealerFromEnv(store, env, { batchUses: 1 });
    for (let i = 0; i < AGREEMENT_CACHE.entries + 5; i++) {
      const sealed = await oneEach.seal(`o-b${i}`, `tok_ok_${i}`);
      await expect(payment.open(`o-b${i}`, sealed)).resolves.toBe(`tok_ok_${i}`);
    }
    expect(payment.agreementStats).toEqual({
      computed: AGREEMENT_CACHE.entries + 7,
      held: AGREEMENT_CACHE.entries,
    });
  });

  it("never holds a v1 token's agreement (its shared secret is all its key needs)", async () => {
    const store = new MemoryTokenKeyStore();
    const sealed = await tokenSealerFromEnv(store, env, { format: "v1" }).seal("o-1", "tok_ok_v1");
    const payment = tokenOpenerFromEnv(store, env, { now: () => 0 });
    await expect(payment.open("o-1", sealed)).resolves.toBe("tok_ok_v1");
    await expect(payment.open("o-1", sealed)).resolves.toBe("tok_ok_v1");
    expect(payment.agreementStats).toEqual({ computed: 2, held: 0 });
  });
});
