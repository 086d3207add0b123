import { createSecretKey, randomBytes } from "node:crypto";
import { expect, it } from "vitest";
import { FieldCipher } from "../../lib/security/encryption.js";
import { UserDataCipher } from "../../lib/security/user-data.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { newUser } from "./domain.js";
import { emailKey, userKey } from "./keys.js";
import { RedisUserStore } from "./redis-store.js";
import { reindexUserEmails } from "./reindex-emails.js";
import { sealClearUsers } from "./seal-clear-users.js";

const cipher = new UserDataCipher(
  new FieldCipher([{ kid: "k1", secret: randomBytes(32) }]),
  createSecretKey(randomBytes(32)),
);

/** A user as the version before issue 12 stored it: email and phone in clear, claim named by the email. */
const clearUser = (id: string, email: string, phone?: string) => ({
  id,
  email,
  name: `User ${id}`,
  ...(phone === undefined ? {} : { phone }),
  preferences: { email: true, push: false, sms: false },
  createdAt: "2024-01-01T00:00:00.000Z",
  updatedAt: "2024-01-01T00:00:00.000Z",
});

describeWithRedis("sealing users stored in clear by an older version", (getRedis) => {
  it("seals email and phone, moves the claim to the blind index, deletes clear claims; a second run changes nothing", async () => {
    const redis = getRedis().client();
    const users = [
      clearUser("u-1", "ada@example.com", "+44 20 7946 0123"),
      clearUser("u-2", "bob@example.com"),
      clearUser("u-3", "cy@example.com", "+1 555 0100"),
    ];
    for (const user of users) {
      await redis.hset(userKey(user.id), "data", JSON.stringify(user), "version", "3");
      await redis.set(emailKey(user.email), user.id);
    }
    // A clear claim left by a user since deleted, and a user the current version wrote (sealed).
    await redis.set(emailKey("gone@example.com"), "u-gone");
    const store = new RedisUserStore(redis, cipher);
    const current = newUser({ email: "dee@example.com", name: "Dee" }, "u-4", "2024-01-01T00:00:00.000Z");
    expect(await store.create(current, [])).toEqual({ ok: true });
    const currentData = await redis.hget(userKey("u-4"), "data");

    const batches: string[] = [];
    const first = await sealClearUsers(redis, cipher, {
      batch: 1,
      onBatch: (cursor) => batches.push(cursor),
    });
    expect(first).toMatchObject({
      users: 4,
      sealed: 3,
      alreadySealed: 1,
      skipped: [],
      clearClaimsRemoved: 1,
    });
    expect(batches.length).toBeGreaterThan(1);

    // Nothing in Redis holds a user's email or phone in clear any more, in key names or values.
    const clear = [
      "ada@example.com",
      "bob@example.com",
      "cy@example.com",
      "gone@example.com",
      // Pieces with a space: a hex blind index or base64 ciphertext cannot hold them by chance
      // (a bare "7946" once matched a random SHA-256 hex key name).
      "20 7946",
      "555 0100",
    ];
    for (const key of await redis.keys("*")) {
      const type = await redis.type(key);
      const text = `${key} ${type === "hash" ? JSON.stringify(await redis.hgetall(key)) : type === "string" ? await redis.get(key) : ""}`;
      for (const value of clear) expect(text, key).not.toContain(value);
    }
    // The store reads them back as they were, versions kept; the email stays unique under its index.
    for (const user of users) {
      expect(await store.get(user.id)).toEqual({ user, version: 3 });
      expect(await redis.get(emailKey(cipher.emailIndex(user.email)))).toBe(user.id);
    }
    const taken = newUser({ email: "ada@example.com", name: "Ada 2" }, "u-5", "2024-01-02T00:00:00.000Z");
    expect(await store.create(taken, [])).toEqual({ ok: false, code: "EMAIL_TAKEN" });
    expect(await redis.hget(userKey("u-4"), "data")).toBe(currentData);

    const sealedData = await Promise.all(users.map((u) => redis.hget(userKey(u.id), "data")));
    const second = await sealClearUsers(redis, cipher);
    expect(second).toMatchObject({
      users: 4,
      sealed: 0,
      alreadySealed: 4,
      skipped: [],
      clearClaimsRemoved: 0,
    });
    expect(await Promise.all(users.map((u) => redis.hget(userKey(u.id), "data")))).toEqual(sealedData);
  });
});

describeWithRedis("rotating the email index key (reindexUserEmails)", (getRedis) => {
  it("moves every claim to the new index, keeps emails unique under it, and a second run changes nothing", async () => {
    const redis = getRedis().client();
    const dataKeys = new FieldCipher([{ kid: "k1", secret: randomBytes(32) }]);
    const before = new UserDataCipher(dataKeys, createSecretKey(randomBytes(32)));
    const after = new UserDataCipher(dataKeys, createSecretKey(randomBytes(32)));
    const oldStore = new RedisUserStore(redis, before);
    const users = ["ann@example.com", "ben@example.com"].map((email, i) =>
      newUser({ email, name: `U${i}` }, `r-${i}`, "2024-01-01T00:00:00.000Z"),
    );
    for (const user of users) expect(await oldStore.create(user, [])).toEqual({ ok: true });

    const first = await reindexUserEmails(redis, { from: before, to: after }, { batch: 1 });
    expect(first).toMatchObject({ users: 2, moved: 2, alreadyMoved: 0, skipped: [] });
    for (const user of users) {
      expect(await redis.get(emailKey(after.emailIndex(user.email)))).toBe(user.id);
      expect(await redis.exists(emailKey(before.emailIndex(user.email)))).toBe(0);
    }
    // The service restarted with the new key still refuses a taken email, and reads the users.
    const newStore = new RedisUserStore(redis, after);
    const copy = newUser({ email: "ann@example.com", name: "Ann 2" }, "r-9", "2024-01-02T00:00:00.000Z");
    expect(await newStore.create(copy, [])).toEqual({ ok: false, code: "EMAIL_TAKEN" });
    expect((await newStore.get("r-1"))?.user).toEqual(users[1]);
    // The record's `claim` field followed the claim (break35 F4): a DELETE frees the new-index claim.
    expect(await newStore.remove("r-0", [])).toEqual({ ok: true });
    expect(await newStore.create(copy, [])).toEqual({ ok: true });

    const second = await reindexUserEmails(redis, { from: before, to: after });
    expect(second).toMatchObject({ users: 2, moved: 0, alreadyMoved: 2, skipped: [] });
  });
});
