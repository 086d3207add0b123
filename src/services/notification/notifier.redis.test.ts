/**
 * The notifier over the Redis store: what a fact costs in Redis calls (one contact read with the
 * claim of all its channels, one finish of all of them), and that a redelivered fact changes nothing.
 */
import { randomBytes } from "node:crypto";
import { expect, it, vi } from "vitest";
import { AllEvents } from "../../contracts/catalog.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { createMemoryPlatform } from "../../lib/runtime/platform.js";
import { FieldCipher } from "../../lib/security/encryption.js";
import { UserDataCipher } from "../../lib/security/user-data.js";
import { describeWithRedis } from "../../test-support/redis.js";
import type { Intent } from "./domain.js";
import { notificationEventStreamKey } from "./keys.js";
import { createNotifier, type Prepare } from "./notifier.js";
import { SimulatedProviders } from "./providers.js";
import { RedisNotificationStore } from "./redis-store.js";

const cipher = new UserDataCipher(new FieldCipher([{ kid: "t1", secret: randomBytes(32) }]));

const confirmed = (orderId: string): Intent => ({
  template: "order.confirmed",
  userId: "u1",
  orderId,
  data: { total: 100, currency: "USD" },
});

describeWithRedis("notifier over Redis", (getRedis) => {
  it("notifies a user whose name holds a lone UTF-16 surrogate", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const platform = createMemoryPlatform();
    try {
      const source = { service: "notification", instance: "t" };
      const publisher = new Publisher({ events: AllEvents, transport: platform.transport, source });
      const prepare: Prepare = (event, payload, options) => publisher.prepare(event, payload, options);
      const store = new RedisNotificationStore(redis);
      await store.applyContact({
        kind: "created",
        at: 1,
        contact: {
          userId: "u1",
          name: "Ada \ud800 Lovelace",
          email: cipher.seal("u1", "email", "ada@x.test"),
          preferences: { email: true, push: true, sms: false },
        },
      });
      const provider = new SimulatedProviders({ now: () => 0 });
      let ids = 0;
      const notifier = createNotifier({
        store,
        provider,
        now: () => Date.UTC(2024, 0, 1),
        newId: () => `n${++ids}`,
        cipher,
      });
      await notifier.notify({ template: "welcome", userId: "u1", data: {} }, prepare);
      await notifier.notify(confirmed("o1"), prepare);
      expect(provider.sent().map((m) => `${m.channel}:${m.text}`)).toEqual([
        "email:Hello Ada \ud800 Lovelace, your account is ready.",
        expect.stringMatching(/^email:Your order o1 is confirmed/),
        expect.stringMatching(/^push:Your order o1 is confirmed/),
      ]);
      const entries = await redis.xrange(notificationEventStreamKey("notification.sent"), "-", "+");
      expect(entries).toHaveLength(3);
    } finally {
      await platform.close();
    }
  });

  it("notifies a fact on two channels with two Redis calls, and a redelivery emits nothing", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const platform = createMemoryPlatform();
    try {
      const source = { service: "notification", instance: "t" };
      const publisher = new Publisher({ events: AllEvents, transport: platform.transport, source });
      const prepare: Prepare = (event, payload, options) => publisher.prepare(event, payload, options);
      const store = new RedisNotificationStore(redis);
      await store.applyContact({
        kind: "created",
        at: 1,
        contact: {
          userId: "u1",
          name: "Ann",
          email: cipher.seal("u1", "email", "ann@x.test"),
          preferences: { email: true, push: true, sms: false },
        },
      });
      let ids = 0;
      const notifier = createNotifier({
        store,
        provider: new SimulatedProviders({ now: () => 0 }),
        now: () => Date.UTC(2024, 0, 1),
        newId: () => `n${++ids}`,
        cipher,
      });
      await notifier.notify(confirmed("o-warm"), prepare); // loads the scripts (EVAL once each)
      const sent = vi.spyOn(redis, "sendCommand");
      try {
        await notifier.notify(confirmed("o1"), prepare);
        expect(sent.mock.calls.map(([command]) => command.name)).toEqual(["evalsha", "evalsha"]);
        sent.mockClear();
        await notifier.notify(confirmed("o1"), prepare);
        expect(sent.mock.calls.map(([command]) => command.name)).toEqual(["evalsha"]);
      } finally {
        sent.mockRestore();
      }
      const entries = await redis.xrange(notificationEventStreamKey("notification.sent"), "-", "+");
      const channels = entries.map(([, fields]) => {
        const { payload } = JSON.parse(fields[1] ?? "{}") as {
          payload: { orderId: string; channel: string };
        };
        return `${payload.orderId}:${payload.channel}`;
      });
      expect(channels.sort()).toEqual(["o-warm:email", "o-warm:push", "o1:email", "o1:push"]);
      expect((await store.list({ orderId: "o1", limit: 10 })).map((r) => r.status)).toEqual(["sent", "sent"]);
    } finally {
      await platform.close();
    }
  });
});
