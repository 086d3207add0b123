import { Redis } from "ioredis";
import { expect, it, onTestFinished } from "vitest";
import { provisionAclUsers } from "../../system/redis-acl.js";
import { describeWithRedis } from "../../test-support/redis.js";
import type { NotificationRecord } from "./domain.js";
import { contactKey, notificationEventStreamKey } from "./keys.js";
import { RedisNotificationStore } from "./redis-store.js";
import { runNotificationStoreContract } from "./store-contract.js";

describeWithRedis("RedisNotificationStore", (getRedis) => {
  runNotificationStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisNotificationStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(notificationEventStreamKey(topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });

  const candidates = (orderId: string) =>
    (["email", "push", "sms"] as const).map((channel) => ({
      key: `order.confirmed:${orderId}:${channel}`,
      record: {
        notificationId: `${orderId}-${channel}`,
        userId: "u1",
        channel,
        template: "order.confirmed",
        orderId,
        createdAt: "2024-01-01T00:00:00.000Z",
        status: "sending",
      } satisfies NotificationRecord,
    }));

  // newuser17 F1: the record was set 'sent' before the XADD: a failing XADD left it sent without
  // its event (Redis does not undo a script's earlier writes), and the retry found it finished.
  it("a finish whose event cannot be appended changes nothing: the record stays claimed and the retry finishes it once", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisNotificationStore(redis);
    const [entry] = candidates("o-f1");
    await store.beginAll([entry!]);
    const stream = notificationEventStreamKey("notification.sent");
    const sent = { ...entry!.record, status: "sent" as const };
    const message = { topic: "notification.sent", owner: "notification", id: "m-f1", body: "b-f1" };
    await redis.set(stream, "not a stream");
    await expect(store.finishAll([{ key: entry!.key, record: sent, messages: [message] }])).rejects.toThrow(
      /WRONGTYPE/,
    );
    expect((await store.beginAll([entry!]))[0]!.status).toBe("sending");
    await redis.del(stream);
    expect(await store.finishAll([{ key: entry!.key, record: sent, messages: [message] }])).toEqual([true]);
    expect(await store.finishAll([{ key: entry!.key, record: sent, messages: [message] }])).toEqual([false]);
    expect(await redis.xlen(stream)).toBe(1);
  });

  it("reads the contact once per claim: one HMGET inside the script, no HGET per field (as the service's ACL user)", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    // The service's own Redis user: a command its ACL lacks fails the script (NOPERM).
    const { username, password } = (await provisionAclUsers(redis)).get("notification")!;
    const asService = new Redis(getRedis().url, { username, password, maxRetriesPerRequest: 0 });
    onTestFinished(() => asService.disconnect());
    const store = new RedisNotificationStore(asService);
    const contact = {
      userId: "u1",
      name: "Ann",
      email: "sealed-email",
      preferences: { email: true, push: true, sms: true },
    };
    // As APPLY_CONTACT writes it: the channels beside the JSON, of the same `at`.
    await redis.hset(contactKey("u1"), "at", "10", "data", JSON.stringify(contact));
    await redis.hset(contactKey("u1"), "channels", ",email,push,", "channelsAt", "10");
    await store.beginForContact("u1", candidates("warm")); // loads the script
    await redis.config("RESETSTAT");
    const claim = await store.beginForContact("u1", candidates("o1"));
    const stats = await redis.info("commandstats");
    const calls = (name: string) => Number(new RegExp(`cmdstat_${name}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    expect(claim.contact).toEqual({ at: 10, contact, deleted: false });
    expect(claim.records.map((r) => r.notificationId)).toEqual(["o1-email", "o1-push"]);
    expect({ hget: calls("hget"), hmget: calls("hmget"), evalsha: calls("evalsha") }).toEqual({
      hget: 0,
      hmget: 1,
      evalsha: 1,
    });
  });

  it("claims for a contact written before its channels field (decided in JS), lone surrogate in the name", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisNotificationStore(redis);
    const contact = {
      userId: "u1",
      name: "Ada \ud800 Lovelace",
      email: "sealed-email",
      preferences: { email: true, push: true, sms: true },
    };
    // As the APPLY_CONTACT of an earlier version wrote it: `at` and `data` only.
    await redis.hset(contactKey("u1"), "at", "10", "data", JSON.stringify(contact));
    const claim = await store.beginForContact("u1", candidates("o1"));
    expect(claim.contact).toEqual({ at: 10, contact, deleted: false });
    // No phone: email and push.
    expect(claim.records.map((r) => r.notificationId)).toEqual(["o1-email", "o1-push"]);
    expect((await store.list({ orderId: "o1", limit: 10 })).length).toBe(2);
  });

  it("does not claim from channels left stale by an earlier version's update (rolling upgrade)", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisNotificationStore(redis);
    const contact = {
      userId: "u1",
      name: "Ann",
      email: "sealed-email",
      phone: "sealed-phone",
      preferences: { email: true, push: true, sms: true },
    };
    await store.applyContact({ kind: "created", at: 10, contact });
    // An instance of the earlier version applies user.updated (push and sms off): `at` and `data`.
    const updated = { ...contact, preferences: { email: true, push: false, sms: false } };
    await redis.hset(contactKey("u1"), "at", "20", "data", JSON.stringify(updated));
    const claim = await store.beginForContact("u1", candidates("o1"));
    expect(claim.contact).toEqual({ at: 20, contact: updated, deleted: false });
    expect(claim.records.map((r) => r.notificationId)).toEqual(["o1-email"]);
    // The next update by this version writes the field again: one call, the channels it enables.
    await store.applyContact({ kind: "updated", at: 30, contact });
    const again = await store.beginForContact("u1", candidates("o2"));
    expect(again.records.map((r) => r.notificationId)).toEqual(["o2-email", "o2-push", "o2-sms"]);
  });

  it("takes the version left by an update an earlier version applied as none: by date (rolling upgrade)", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisNotificationStore(redis);
    const contact = (name: string) => ({
      userId: "u1",
      name,
      email: "sealed-email",
      preferences: { email: true, push: true, sms: false },
    });
    await store.applyContact({ kind: "updated", at: 20, version: 5, contact: contact("V5") });
    // An instance of the earlier version applies the user's version 7 (it knows no versions).
    await redis.hset(contactKey("u1"), "at", "30", "data", JSON.stringify(contact("V7")));
    expect((await store.beginForContact("u1", [])).contact).toEqual({
      at: 30,
      contact: contact("V7"),
      deleted: false,
    });
    // Version 6, dated before it: the stale 5 would let it through; by date it is older.
    expect(await store.applyContact({ kind: "updated", at: 28, version: 6, contact: contact("V6") })).toBe(
      false,
    );
    expect(await store.applyContact({ kind: "updated", at: 31, version: 8, contact: contact("V8") })).toBe(
      true,
    );
    expect((await store.beginForContact("u1", [])).contact).toEqual({
      at: 31,
      version: 8,
      contact: contact("V8"),
      deleted: false,
    });
  });

  it("claims nothing for a contact whose stored JSON does not read", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const store = new RedisNotificationStore(redis);
    await store.applyContact({
      kind: "created",
      at: 10,
      contact: {
        userId: "u1",
        name: "Ann",
        email: "e",
        preferences: { email: true, push: true, sms: false },
      },
    });
    await redis.hset(contactKey("u1"), "data", JSON.stringify({ userId: "u1", name: "Ann" }));
    await expect(store.beginForContact("u1", candidates("o1"))).rejects.toThrow();
    expect(await store.list({ userId: "u1", limit: 10 })).toEqual([]);
    expect(await redis.keys("{notification}:n:*")).toEqual([]);
  });
});
