/**
 * break35 F4: rotating USER_DATA_KEYS could not be finished ("any update re-seals it" was false for
 * users never updated, and nothing said how many records an old key still sealed). The re-seal pass
 * moves every record (user records and the notification service's contacts) to the current key,
 * reports what each key id still seals, and releases email claims whose user is gone.
 */
import { createSecretKey, randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { FieldCipher } from "../../lib/security/encryption.js";
import { UserDataCipher } from "../../lib/security/user-data.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { contactKey } from "../notification/keys.js";
import { newUser } from "./domain.js";
import { emailKey, userKey } from "./keys.js";
import { RedisUserStore } from "./redis-store.js";
import { resealUsers } from "./reseal-users.js";

const indexKey = createSecretKey(randomBytes(32));
const k0 = { kid: "k0", secret: randomBytes(32) };
const k1 = { kid: "k1", secret: randomBytes(32) };
const k2 = { kid: "k2", secret: randomBytes(32) };
const cipherOf = (...keys: { kid: string; secret: Buffer }[]) =>
  new UserDataCipher(new FieldCipher(keys), indexKey);
const person = (id: string, email: string, phone?: string) =>
  newUser({ email, name: id, ...(phone === undefined ? {} : { phone }) }, id, "2024-01-01T00:00:00.000Z");
const recordOf = async (redis: Redis, id: string) =>
  JSON.parse((await redis.hget(userKey(id), "data"))!) as { email: string; phone?: string };

describeWithRedis("re-sealing users under the current data key", (getRedis) => {
  it("moves every user and contact to the current key, counts records per key id, and a second run changes nothing", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const old = new RedisUserStore(redis, cipherOf(k1));
    await old.create(person("u-1", "a@x.test", "+1 555 0101"), []);
    await old.create(person("u-2", "b@x.test"), []);
    await new RedisUserStore(redis, cipherOf(k2)).create(person("u-3", "c@x.test"), []);
    // A record from before the `claim` field, and a notification contact sealed under k1.
    await redis.hdel(userKey("u-2"), "claim");
    const sealed1 = cipherOf(k1);
    const contact = {
      userId: "u-1",
      name: "u-1",
      email: sealed1.seal("u-1", "email", "a@x.test"),
      phone: sealed1.seal("u-1", "phone", "+1 555 0101"),
      preferences: { email: true, push: true, sms: false },
    };
    await redis.hset(contactKey("u-1"), "at", "1", "data", JSON.stringify(contact), "channels", ",email,");

    const rotated = cipherOf(k2, k1);
    const counted = await resealUsers(redis, rotated, { dryRun: true });
    expect(counted).toMatchObject({
      users: { seen: 3, resealed: 0, byKid: { k1: 2, k2: 1 } },
      contacts: { seen: 1, resealed: 0, byKid: { k1: 1 } },
    });
    expect((await recordOf(redis, "u-1")).email).toMatch(/^enc1\.k1\./);

    const first = await resealUsers(redis, rotated, { batch: 1 });
    expect(first).toMatchObject({
      users: { seen: 3, resealed: 2, claimsRecorded: 1, byKid: { k2: 3 }, skipped: [] },
      contacts: { seen: 1, resealed: 1, byKid: { k2: 1 }, skipped: [] },
    });
    // k1 is no longer needed: everything opens with k2 alone, versions kept.
    const k2Only = new RedisUserStore(redis, cipherOf(k2));
    expect((await k2Only.get("u-1"))?.user).toMatchObject({ email: "a@x.test", phone: "+1 555 0101" });
    expect((await k2Only.get("u-1"))?.version).toBe(1);
    const resealed = JSON.parse((await redis.hget(contactKey("u-1"), "data"))!) as typeof contact;
    expect(cipherOf(k2).open("u-1", "phone", resealed.phone)).toBe("+1 555 0101");
    expect(await redis.hget(contactKey("u-1"), "channels")).toBe(",email,");
    expect(await redis.hget(userKey("u-2"), "claim")).toMatch(/^[0-9a-f]{64}$/);

    const second = await resealUsers(redis, rotated);
    expect(second).toMatchObject({
      users: { seen: 3, resealed: 0, claimsRecorded: 0, byKid: { k2: 3 } },
      contacts: { resealed: 0, byKid: { k2: 1 } },
    });
  });

  it("names what it cannot open, leaves a record written meanwhile for the next run, and frees the claims of users deleted unread", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    await new RedisUserStore(redis, cipherOf(k0)).create(person("u-lost", "lost@x.test"), []);
    await new RedisUserStore(redis, cipherOf(k1)).create(person("u-busy", "busy@x.test"), []);
    // A pre-`claim` record under a dropped key, deleted: its claim cannot be found by the service.
    await new RedisUserStore(redis, cipherOf(k0)).create(person("u-gone", "gone@x.test"), []);
    await redis.hdel(userKey("u-gone"), "claim");
    const service = new RedisUserStore(redis, cipherOf(k2, k1));
    expect(await service.remove("u-gone", [])).toEqual({ ok: true });
    expect(await redis.get(emailKey(cipherOf(k2).emailIndex("gone@x.test")))).toBe("u-gone");

    const result = await resealUsers(redis, cipherOf(k2, k1), {
      // The service writes u-busy between the pass's read and its write.
      beforeWrite: async (id) => {
        if (id !== "u-busy") return;
        const current = (await service.get(id))!;
        await service.update(current, { ...current.user, name: "Busy" }, []);
      },
    });
    expect(result.users.skipped).toEqual(
      expect.arrayContaining([
        { id: "u-lost", reason: "UNREADABLE" },
        { id: "u-busy", reason: "CHANGED" },
      ]),
    );
    expect(result.users.byKid).toEqual({ k0: 1, k2: 1 });
    expect(result.orphanClaimsReleased).toBe(1);
    expect(await service.create(person("u-new", "gone@x.test"), [])).toEqual({ ok: true });
    expect((await recordOf(redis, "u-busy")).email).toMatch(/^enc1\.k2\./);
    expect((await service.get("u-busy"))?.user.name).toBe("Busy");
  });
});
