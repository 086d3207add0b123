import { createSecretKey, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { expect, it, vi } from "vitest";
import { FieldCipher } from "../../lib/security/encryption.js";
import { UserDataCipher } from "../../lib/security/user-data.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { newUser } from "./domain.js";
import { userEventStreamKey, userKey, validationKey } from "./keys.js";
import { RedisUserStore } from "./redis-store.js";
import { runUserStoreContract } from "./store-contract.js";

const indexKey = createSecretKey(randomBytes(32));
const k1 = { kid: "k1", secret: randomBytes(32) };
const k2 = { kid: "k2", secret: randomBytes(32) };
/** A user service's cipher with the given data keys (first = current) and one shared index key. */
const cipherOf = (...keys: { kid: string; secret: Buffer }[]) =>
  new UserDataCipher(new FieldCipher(keys), indexKey);

const ada = (id: string) =>
  newUser(
    { email: "Ada@Example.com", name: "Ada", phone: "+44 20 7946 0123" },
    id,
    "2024-01-01T00:00:00.000Z",
  );

/** The key's remaining lifetime is set and at most `max` ms: a mark that goes away on its own. */
async function expectExpiring(redis: Redis, key: string, max: number): Promise<void> {
  const ttl = await redis.pttl(key);
  expect(ttl, key).toBeGreaterThan(0);
  expect(ttl, key).toBeLessThanOrEqual(max);
}

describeWithRedis("RedisUserStore", (getRedis) => {
  it("lets an order's validation mark expire after the marker lifetime", async () => {
    const redis = getRedis().client();
    const store = new RedisUserStore(redis, cipherOf(k1), { markerTtlMs: 60_000 });
    expect(await store.answerValidation("order-ttl", "u-ttl", () => [])).toBe(true);
    expect(await store.answerValidation("order-ttl", "u-ttl", () => [])).toBe(false);
    await expectExpiring(redis, validationKey("order-ttl"), 60_000);
  });

  it("answers an active user's validation in one Redis call, another status in two", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisUserStore(redis, cipherOf(k1));
    await store.create(ada("u-one"), []);
    const answer = (status: string) => [
      { topic: "user.validated", owner: "user", id: `m-${status}`, body: status },
    ];
    await store.answerValidation("o-warm", "u-one", answer); // loads the script (EVAL once)
    const sent = vi.spyOn(redis, "sendCommand");
    try {
      expect(await store.answerValidation("o-active", "u-one", answer)).toBe(true);
      expect(sent).toHaveBeenCalledTimes(1);
      sent.mockClear();
      expect(await store.answerValidation("o-missing", "u-nobody", answer)).toBe(true);
      expect(sent).toHaveBeenCalledTimes(2);
    } finally {
      sent.mockRestore();
    }
    const entries = await redis.xrange(userEventStreamKey("user.validated"), "-", "+");
    expect(entries.map(([, fields]) => fields[1])).toEqual(["active", "active", "missing"]);
  });

  it("keeps the email and phone sealed at rest, the email claim under its blind index, and reads them in clear", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisUserStore(redis, cipherOf(k1));
    expect(await store.create(ada("u-sealed"), [])).toEqual({ ok: true });
    const everything = [];
    for (const key of await redis.keys("*")) {
      everything.push(
        key,
        (await redis.type(key)) === "hash" ? JSON.stringify(await redis.hgetall(key)) : await redis.get(key),
      );
    }
    const text = everything.join("\n");
    expect(text).toContain("u-sealed"); // the dump is real: the id is there
    expect(text.toLowerCase()).not.toContain("ada@example.com");
    // With its space: a hex key name or base64 ciphertext cannot hold it by chance (a bare "7946" could).
    expect(text).not.toContain("20 7946");
    const record = JSON.parse((await redis.hget(userKey("u-sealed"), "data"))!) as Record<string, string>;
    expect(record.email).toMatch(/^enc1\.k1\./);
    expect(record.phone).toMatch(/^enc1\.k1\./);
    expect(await redis.keys("{user}:email:*")).toEqual([
      expect.stringMatching(/^\{user\}:email:[0-9a-f]{64}$/),
    ]);
    expect((await store.get("u-sealed"))?.user).toMatchObject({
      email: "ada@example.com",
      phone: "+44 20 7946 0123",
    });
    // The claim works on the index: the same email (any case) is taken.
    expect(
      await store.create(
        newUser({ email: "ADA@example.COM", name: "Twin" }, "u-twin", "2024-01-01T00:00:00.000Z"),
        [],
      ),
    ).toEqual({
      ok: false,
      code: "EMAIL_TAKEN",
    });
  });

  it("key rotation: a user written under k1 still reads after k2 becomes current, and new writes use k2", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    await new RedisUserStore(redis, cipherOf(k1)).create(ada("u-rot"), []);
    const rotated = new RedisUserStore(redis, cipherOf(k2, k1));
    const before = (await rotated.get("u-rot"))!;
    expect(before.user).toMatchObject({ email: "ada@example.com", phone: "+44 20 7946 0123" });
    expect(await rotated.update(before, { ...before.user, name: "Ada L." }, [])).toEqual({ ok: true });
    const record = JSON.parse((await redis.hget(userKey("u-rot"), "data"))!) as Record<string, string>;
    expect(record.email).toMatch(/^enc1\.k2\./);
    expect(record.phone).toMatch(/^enc1\.k2\./);
    expect((await rotated.get("u-rot"))?.user).toMatchObject({ name: "Ada L.", email: "ada@example.com" });
    // The rewritten record needs k1 no more; one still sealed under k1 needs it (k1 is dropped last).
    expect((await new RedisUserStore(redis, cipherOf(k2)).get("u-rot"))?.user.email).toBe("ada@example.com");
    await new RedisUserStore(redis, cipherOf(k1)).create({ ...ada("u-old"), email: "old@example.com" }, []);
    await expect(new RedisUserStore(redis, cipherOf(k2)).get("u-old")).rejects.toMatchObject({
      code: "DECRYPTION_FAILED",
    });
  });

  // break35 F4: a record written before the `claim` field: its email is opened to find the claim.
  it("deletes a record without a claim field (an earlier version's) and frees its email", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisUserStore(redis, cipherOf(k1));
    await store.create(ada("u-legacy"), []);
    await redis.hdel(userKey("u-legacy"), "claim");
    expect(await store.remove("u-legacy", [])).toEqual({ ok: true });
    expect(await redis.keys("{user}:email:*")).toEqual([]);
    expect((await store.create(ada("u-next"), [])).ok).toBe(true);
  });

  runUserStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisUserStore(redis, cipherOf(k1)),
      emitted: async (topic) => {
        const entries = await redis.xrange(userEventStreamKey(topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
