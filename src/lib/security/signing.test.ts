import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { KeyConfigError, Keyring } from "./keyring.js";
import { keyringFromEnv } from "./process-keys.js";
import { createOwnerSigner, createSigner, createVerifier } from "./signing.js";

const secret = () => randomBytes(32);
const body = JSON.stringify({
  id: "m1",
  event: "payment.processed",
  payload: { orderId: "o-1", amount: 3000 },
});

describe("envelope signing", () => {
  const keyring = new Keyring([
    { service: "payment", kid: "pay-1", secret: secret() },
    { service: "order", kid: "ord-1", secret: secret() },
  ]);
  const verifier = createVerifier(keyring);
  const signed = createSigner(keyring, "payment").sign(body, "payment");

  it("appends the key id and MAC as the last field and still parses as the same envelope", () => {
    expect(signed).toMatch(/,"sig":"pay-1\.[A-Za-z0-9_-]{43}"\}$/);
    expect(JSON.parse(signed)).toMatchObject(JSON.parse(body));
    expect(verifier.verify(signed, "payment.processed", "payment")).toBe("payment");
  });

  it("rejects a copy with another order id (the MAC covers the payload)", () => {
    const forged = signed.replace('"o-1"', '"o-2"');
    expect(() => verifier.verify(forged, "payment.processed", "payment")).toThrow(
      expect.objectContaining({ code: "SIGNATURE_INVALID" }),
    );
  });

  it("rejects an unsigned body, a malformed signature and an unknown key id", () => {
    const check = (b: string) => () => verifier.verify(b, "payment.processed", "payment");
    expect(check(body)).toThrow(/unsigned/);
    expect(check(signed.replace(/\.([A-Za-z0-9_-]{43})"\}$/, '.short"}'))).toThrow(/malformed/);
    expect(check(signed.replace('"sig":"pay-1.', '"sig":"pay-9.'))).toThrow(/unknown key id "pay-9"/);
  });

  it("rejects a signature field that is not exactly the last one: extra bytes, long key id, other characters", () => {
    const check = (b: string) => () => verifier.verify(b, "payment.processed", "payment");
    const [head = "", tag = ""] = signed.split('"sig":"pay-1.');
    expect(check(`${signed} `)).toThrow(/malformed/);
    expect(check(`${signed.slice(0, -1)},"x":1}`)).toThrow(/malformed/);
    expect(check(`${head}"sig":"${"k".repeat(33)}.${tag}`)).toThrow(/malformed/);
    expect(check(`${head}"sig":"pay 1.${tag}`)).toThrow(/malformed/);
    expect(check(`${head}"sig":"pay-1.${tag.replace(/^./, "é")}`)).toThrow(/malformed/);
    expect(check(`${head}"sig":"pay-1.${tag.replace(/^./, "+")}`)).toThrow(/malformed/);
    expect(check(`${head}"sig":".${tag}`)).toThrow(/malformed/);
    expect(check(',"sig":"')).toThrow(/malformed/);
    expect(check(`,"sig":"pay-1.${tag}`)).toThrow(/bad MAC/);
  });

  it("signs and verifies non-ASCII payloads over their UTF-8 bytes; a changed accent fails", () => {
    const text = JSON.stringify({ id: "m2", event: "payment.processed", payload: { name: "Zoë ✓ 😀" } });
    const signedText = createSigner(keyring, "payment").sign(text, "payment");
    expect(verifier.verify(signedText, "payment.processed", "payment")).toBe("payment");
    expect(() => verifier.verify(signedText.replace("ë", "é"), "payment.processed", "payment")).toThrow(
      /bad MAC/,
    );
  });

  it("rejects a message signed correctly by a service that does not own the event", () => {
    const byOrder = createSigner(keyring, "order").sign(body, "payment");
    expect(() => verifier.verify(byOrder, "payment.processed", "payment")).toThrow(
      expect.objectContaining({ code: "WRONG_PRODUCER" }),
    );
  });

  it("the owner signer (tests) signs each message as its event's owner", () => {
    const asOwner = createOwnerSigner(keyring).sign(body, "order");
    expect(asOwner).toContain('"sig":"ord-1.');
  });

  it("one verifier, messages of several keys in any order: each checked with its own key id's key", () => {
    // Key ids of equal length and one that extends another: the verifier remembers the keys it has
    // resolved and matches them in place, so a near-miss must not be taken for a known key.
    const entries = [
      { service: "payment", kid: "pay-1", secret: secret() },
      { service: "order", kid: "ord-1", secret: secret() },
      { service: "payment", kid: "pay-10", secret: secret() },
    ];
    const v = createVerifier(new Keyring(entries));
    const byKid = (kid: string) => {
      const entry = entries.find((e) => e.kid === kid)!;
      return createSigner(new Keyring([entry]), entry.service);
    };
    const [pay1, ord1, pay10] = ["pay-1", "ord-1", "pay-10"].map(byKid);
    for (let round = 0; round < 2; round++) {
      expect(v.verify(pay1!.sign(body, "payment"), "payment.processed", "payment")).toBe("payment");
      expect(() => v.verify(ord1!.sign(body, "payment"), "payment.processed", "payment")).toThrow(
        expect.objectContaining({ code: "WRONG_PRODUCER" }),
      );
      expect(v.verify(pay10!.sign(body, "payment"), "payment.processed", "payment")).toBe("payment");
    }
    // A known key id's MAC under another known key id fails; so do unknown ids near known ones.
    const signed1 = pay1!.sign(body, "payment");
    expect(() =>
      v.verify(signed1.replace('"sig":"pay-1.', '"sig":"pay-10.'), "payment.processed", "payment"),
    ).toThrow(/bad MAC \(key "pay-10"\)/);
    for (const kid of ["pay-2", "pay-", "pay-100", "ord-1x"])
      expect(() =>
        v.verify(signed1.replace('"sig":"pay-1.', `"sig":"${kid}.`), "payment.processed", "payment"),
      ).toThrow(`unknown key id "${kid}"`);
  });

  it("rotation: the first key of a service signs, every listed key verifies", () => {
    const old = secret();
    const before = new Keyring([{ service: "payment", kid: "pay-1", secret: old }]);
    const oldMessage = createSigner(before, "payment").sign(body, "payment");
    const after = Keyring.parse(
      `payment:pay-2:${secret().toString("base64")},payment:pay-1:${old.toString("base64")}`,
    );
    const newMessage = createSigner(after, "payment").sign(body, "payment");
    expect(newMessage).toContain('"sig":"pay-2.');
    const v = createVerifier(after);
    expect(v.verify(oldMessage, "payment.processed", "payment")).toBe("payment");
    expect(v.verify(newMessage, "payment.processed", "payment")).toBe("payment");
    // Once the old key is removed, its messages no longer verify.
    const retired = Keyring.parse(after.serialize().split(",")[0]!);
    expect(() => createVerifier(retired).verify(oldMessage, "payment.processed", "payment")).toThrow(
      /unknown key id/,
    );
  });
});

describe("key configuration", () => {
  it("round-trips the text format, comments and newlines included, current keys first", () => {
    const ring = Keyring.generate(["order", "payment"]);
    const text = `# keys\n${ring.serialize().split(",").join("\n")}\n`;
    expect(Keyring.parse(text).serialize()).toBe(ring.serialize());
  });

  it("rejects short secrets and bad entries without echoing the secret", () => {
    const short = Buffer.alloc(16, 7).toString("base64");
    expect(() => Keyring.parse(`order:k1:${short}`)).toThrow(KeyConfigError);
    expect(() => Keyring.parse(`order:k1:${short}`)).not.toThrow(new RegExp(short.slice(0, 8)));
    expect(() => Keyring.parse("order-k1")).toThrow(/expected <service>:<kid>:<base64 secret>/);
  });

  it("a key pasted without its service or key id is not echoed either: the entry is named by position (break44 F1)", () => {
    const secret = randomBytes(32).toString("base64");
    const message = (text: string) => {
      try {
        Keyring.parse(text);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error("parsed");
    };
    for (const text of [
      secret,
      `shipping:${secret}`,
      `order:k1:${secret.slice(0, 8)}`,
      `order:k1:${secret} ${secret}`,
    ]) {
      const said = message(text);
      expect(said).not.toContain(secret.slice(0, 8));
      expect(said).toMatch(/key entry \d/);
    }
    expect(message(`shipping:${secret}`)).toMatch(/key entry 1 \(service "shipping"\), 2 fields/);
    expect(message(`order:k1:${secret} ${secret}`)).toMatch(/^key entry 2, 1 field/);
    // A hex secret looks like a service name: never named as one.
    const hex = randomBytes(32).toString("hex").replace(/^\d/, "a");
    for (const text of [hex, `${hex}:k1`]) expect(message(text)).not.toContain(hex.slice(0, 8));
  });

  it("production without keys is an error; development gets ephemeral keys", () => {
    expect(() => keyringFromEnv({ NODE_ENV: "production" })).toThrow(/BUS_SIGNING_KEYS/);
    const dev = keyringFromEnv({ NODE_ENV: "development" });
    expect(dev.current("order")?.kid).toMatch(/^order-/);
  });

  it("production with only compose's per-service key variables says to join them into BUS_SIGNING_KEYS", () => {
    const env = {
      NODE_ENV: "production",
      BUS_SIGNING_KEY_ORDER: "order-1:abc",
      BUS_SIGNING_KEY_USER: "user-1:def",
    };
    expect(() => keyringFromEnv(env)).toThrow(
      /BUS_SIGNING_KEY_ORDER, BUS_SIGNING_KEY_USER are docker-compose's .* join their values into BUS_SIGNING_KEYS/,
    );
    // The values are secrets: never in the message.
    expect(() => keyringFromEnv(env)).not.toThrow(/abc|def/);
  });

  it("a configured keyring has no key for an unlisted service (its publisher cannot be built)", () => {
    const ring = Keyring.generate(["order"]);
    expect(() => createSigner(Keyring.parse(ring.serialize()), "payment")).toThrow(/no signing key/);
  });
});
