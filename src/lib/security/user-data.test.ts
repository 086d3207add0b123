import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FieldCipher } from "./encryption.js";
import { generateUserDataKeys, userDataCipherFromEnv, userDataSetting } from "./user-data.js";

const production = (extra: Record<string, string> = {}) => ({ NODE_ENV: "production", ...extra });

describe("users' contact data cipher", () => {
  const keys = generateUserDataKeys("udk-1");

  it("seals with a fresh nonce each time, and opens only for the same user and field", () => {
    const cipher = userDataCipherFromEnv(production(keys), { withIndex: true });
    const a = cipher.seal("u1", "email", "ann@x.test");
    const b = cipher.seal("u1", "email", "ann@x.test");
    expect(a).toMatch(/^enc1\.udk-1\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a.slice(0, 30)).not.toBe(b.slice(0, 30)); // the nonce leads the body
    expect(a).not.toContain("ann@x"); // "@" is not base64url: a bare "ann" could match by chance
    expect(cipher.open("u1", "email", a)).toBe("ann@x.test");
    expect(() => cipher.open("u2", "email", a)).toThrow(/authentication failed/);
    expect(() => cipher.open("u1", "phone", a)).toThrow(/authentication failed/);
    // One bit flipped in the sealed bytes: editing the base64url text's last characters can touch
    // only the encoding's unused low bits and leave the bytes as they were (a CI flake).
    const dot = a.lastIndexOf(".");
    const body = Buffer.from(a.slice(dot + 1), "base64url");
    for (const at of [0, body.length - 1]) {
      const flipped = Buffer.from(body);
      flipped[at] = flipped[at]! ^ 0x01;
      const tampered = `${a.slice(0, dot + 1)}${flipped.toString("base64url")}`;
      expect(() => cipher.open("u1", "email", tampered)).toThrow(/authentication failed/);
    }
  });

  it("indexes an email the same way every time, under its own key, and only with that key", () => {
    const cipher = userDataCipherFromEnv(production(keys), { withIndex: true });
    expect(cipher.emailIndex("ann@x.test")).toMatch(/^[0-9a-f]{64}$/);
    expect(cipher.emailIndex("ann@x.test")).toBe(cipher.emailIndex("ann@x.test"));
    expect(cipher.emailIndex("ann@x.test")).not.toBe(cipher.emailIndex("bob@x.test"));
    const other = userDataCipherFromEnv(production({ ...keys, ...generateUserDataKeys("udk-1") }), {
      withIndex: true,
    });
    expect(other.emailIndex("ann@x.test")).not.toBe(cipher.emailIndex("ann@x.test"));
    // The notification service's cipher opens but cannot index.
    expect(() => userDataCipherFromEnv(production(keys)).emailIndex("ann@x.test")).toThrow(
      /USER_EMAIL_INDEX_KEY/,
    );
  });

  it("rotation: the first key seals, every listed key opens", () => {
    const old = generateUserDataKeys("k1");
    const next = generateUserDataKeys("k2");
    const before = userDataCipherFromEnv(production(old));
    const sealed = before.seal("u1", "phone", "+1 555 0100");
    const after = userDataCipherFromEnv(
      production({ USER_DATA_KEYS: `${next.USER_DATA_KEYS},${old.USER_DATA_KEYS}` }),
    );
    expect(after.currentKid).toBe("k2");
    expect(after.open("u1", "phone", sealed)).toBe("+1 555 0100");
    expect(after.seal("u1", "phone", "+1 555 0100")).toMatch(/^enc1\.k2\./);
    expect(() => userDataCipherFromEnv(production(next)).open("u1", "phone", sealed)).toThrow(
      /unknown key id "k1"/,
    );
  });

  it("reads the keys from a file (comments allowed), and refuses to start in production without them", () => {
    const dir = mkdtempSync(join(tmpdir(), "udk-"));
    const file = join(dir, "keys");
    writeFileSync(file, `# contact data keys\n${keys.USER_DATA_KEYS}\n`);
    const fromFile = userDataCipherFromEnv(production({ USER_DATA_KEYS_FILE: file }));
    expect(fromFile.currentKid).toBe("udk-1");
    expect(() => userDataCipherFromEnv(production())).toThrow(/NODE_ENV=production needs USER_DATA_KEYS/);
    expect(() =>
      userDataCipherFromEnv(production({ USER_DATA_KEYS: keys.USER_DATA_KEYS }), { withIndex: true }),
    ).toThrow(/NODE_ENV=production needs USER_EMAIL_INDEX_KEY/);
    expect(() => userDataCipherFromEnv(production({ USER_DATA_KEYS_FILE: join(dir, "none") }))).toThrow(
      /cannot read/,
    );
  });

  it("names a bad entry without echoing its key", () => {
    const secret = randomBytes(16).toString("base64");
    expect(() => userDataCipherFromEnv(production({ USER_DATA_KEYS: `k1:${secret}` }))).toThrow(
      /expected <kid>:<base64 32-byte key> \(key entry 1, 2 fields/,
    );
    // A key pasted without its id puts the key where the id goes (break44 F1): not echoed either.
    const key = randomBytes(32).toString("base64");
    expect(() => userDataCipherFromEnv(production({ USER_DATA_KEYS: key }))).toThrow(/key entry 1, 1 field/);
    expect(() => userDataCipherFromEnv(production({ USER_DATA_KEYS: key }))).not.toThrow(key.slice(0, 8));
    try {
      userDataCipherFromEnv(production({ USER_DATA_KEYS: `k1:${secret}` }));
    } catch (error) {
      expect((error as Error).message).not.toContain(secret);
    }
    expect(() => new FieldCipher([{ kid: "bad.kid", secret: randomBytes(32) }])).toThrow(/key id/);
    const k = { kid: "k1", secret: randomBytes(32) };
    expect(() => new FieldCipher([k, k])).toThrow(/listed twice/);
  });

  it("in development with nothing set, one set of random keys per process", () => {
    expect(userDataSetting({}, "USER_DATA_KEYS")).toBe(userDataSetting({}, "USER_DATA_KEYS"));
    const cipher = userDataCipherFromEnv({}, { withIndex: true });
    expect(userDataCipherFromEnv({}).open("u1", "email", cipher.seal("u1", "email", "a@b.c"))).toBe("a@b.c");
  });
});
