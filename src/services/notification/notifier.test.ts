import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/catalog.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { FieldCipher } from "../../lib/security/encryption.js";
import { UserDataCipher } from "../../lib/security/user-data.js";
import type { Contact, Intent } from "./domain.js";
import { createNotifier, type Notifier, type Prepare } from "./notifier.js";
import { SimulatedProviders } from "./providers.js";
import { MemoryNotificationStore } from "./store.js";

const cipher = new UserDataCipher(new FieldCipher([{ kid: "t1", secret: randomBytes(32) }]));

/** A contact as the store holds it: email and phone sealed, as the user events carry them. */
const contact = (over: Partial<Contact> = {}): Contact => {
  const clear = {
    userId: "u1",
    name: "Ann",
    email: "ann@x.test",
    phone: "+1 555 0100",
    preferences: { email: true, push: true, sms: true },
    ...over,
  };
  return {
    userId: clear.userId,
    name: clear.name,
    email: cipher.seal(clear.userId, "email", clear.email),
    ...(clear.phone === undefined ? {} : { phone: cipher.seal(clear.userId, "phone", clear.phone) }),
    preferences: clear.preferences,
  };
};

/** The email claim an earlier delivery of `confirmed` left "sending" (it may have reached the provider). */
const earlier = {
  notificationId: "earlier",
  userId: "u1",
  channel: "email",
  template: "order.confirmed",
  orderId: "o1",
  createdAt: "2024-01-01T00:00:00.000Z",
  status: "sending",
} as const;

const confirmed: Intent = {
  template: "order.confirmed",
  userId: "u1",
  orderId: "o1",
  data: { total: 100, currency: "USD" },
};

describe("notifier", () => {
  let platform: Platform;
  let published: OutgoingMessage[];
  let store: MemoryNotificationStore;
  let provider: SimulatedProviders;
  let notifier: Notifier;
  let ids: number;
  const prepare = (): Prepare => {
    const source = { service: "notification", instance: "t" };
    const publisher = new Publisher({ events: AllEvents, transport: platform.transport, source });
    return (event, payload, options) => publisher.prepare(event, payload, options);
  };
  const events = (topic: string): unknown[] =>
    published
      .filter((m) => m.topic === topic)
      .map((m) => (JSON.parse(m.body) as { payload: unknown }).payload);

  beforeEach(() => {
    platform = createMemoryPlatform();
    published = [];
    store = new MemoryNotificationStore(async (messages) => {
      published.push(...messages);
    });
    provider = new SimulatedProviders({ now: () => 0 });
    ids = 0;
    notifier = createNotifier({
      store,
      provider,
      now: () => Date.UTC(2024, 0, 1),
      newId: () => `n${++ids}`,
      cipher,
    });
  });
  afterEach(async () => {
    await platform.close();
  });

  it("sends once per enabled channel and emits notification.sent for each", async () => {
    await store.applyContact({ kind: "created", at: 1, contact: contact() });
    await notifier.notify(confirmed, prepare());
    expect(provider.sent().map((m) => [m.channel, m.to])).toEqual([
      ["email", "ann@x.test"],
      ["push", "u1"],
      ["sms", "+1 555 0100"],
    ]);
    expect(events("notification.sent")).toHaveLength(3);
    expect(events("notification.sent")[0]).toEqual({
      notificationId: "n1",
      userId: "u1",
      channel: "email",
      template: "order.confirmed",
      orderId: "o1",
      sentAt: "2024-01-01T00:00:00.000Z",
    });
  });

  it("opens the sealed email and phone only to send: a contact sealed under a key it lacks sends nothing", async () => {
    const stranger = new UserDataCipher(new FieldCipher([{ kid: "t9", secret: randomBytes(32) }]));
    await store.applyContact({
      kind: "created",
      at: 1,
      contact: { ...contact(), email: stranger.seal("u1", "email", "ann@x.test") },
    });
    await expect(notifier.notify(confirmed, prepare())).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect(provider.sent()).toEqual([]);
    expect(published).toEqual([]);
    // Another user's sealed email copied into this contact does not open either (bound to the user).
    await store.applyContact({
      kind: "updated",
      at: 2,
      contact: { ...contact(), email: cipher.seal("u2", "email", "bob@x.test") },
    });
    await expect(notifier.notify(confirmed, prepare())).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect(provider.sent()).toEqual([]);
  });

  it("leaves no channel claimed when the contact does not open, and keeps an earlier delivery's claim", async () => {
    const stranger = new UserDataCipher(new FieldCipher([{ kid: "t9", secret: randomBytes(32) }]));
    await store.applyContact({
      kind: "created",
      at: 1,
      contact: { ...contact(), email: stranger.seal("u1", "email", "ann@x.test") },
    });
    // An earlier delivery of the fact claimed email (and may have reached the provider with its id).
    await store.beginAll([{ key: "order.confirmed:o1:email", record: earlier }]);
    await expect(notifier.notify(confirmed, prepare())).rejects.toMatchObject({ code: "DECRYPTION_FAILED" });
    expect(await store.list({ orderId: "o1", limit: 10 })).toEqual([earlier]);
    // A fact with no earlier claim: nothing at all is left claimed ("sending" forever).
    await expect(notifier.notify({ ...confirmed, orderId: "o2" }, prepare())).rejects.toMatchObject({
      code: "DECRYPTION_FAILED",
    });
    expect(await store.list({ userId: "u1", limit: 10 })).toEqual([earlier]);
    // Once it opens again (a DLQ replay after the key is back), the fact is sent on every channel.
    await store.applyContact({ kind: "updated", at: 2, contact: contact() });
    await notifier.notify({ ...confirmed, orderId: "o2" }, prepare());
    expect((await store.list({ orderId: "o2", limit: 10 })).map((r) => r.status)).toEqual([
      "sent",
      "sent",
      "sent",
    ]);
  });

  it("does nothing more when the same fact is notified again", async () => {
    await store.applyContact({ kind: "created", at: 1, contact: contact() });
    await notifier.notify(confirmed, prepare());
    await notifier.notify(confirmed, prepare());
    expect(provider.sent()).toHaveLength(3);
    expect(published).toHaveLength(3);
    expect(await store.list({ orderId: "o1", limit: 10 })).toHaveLength(3);
  });

  it("records a bounce as failed with notification.failed, without asking for a retry", async () => {
    await store.applyContact({
      kind: "created",
      at: 1,
      contact: contact({ email: "ann@bounce.test", phone: undefined }),
    });
    await notifier.notify(confirmed, prepare());
    expect(events("notification.failed")).toEqual([
      {
        notificationId: "n1",
        userId: "u1",
        channel: "email",
        reason: "email bounced: mailbox does not exist",
      },
    ]);
    expect((await store.list({ userId: "u1", limit: 10 })).map((r) => [r.channel, r.status])).toEqual(
      expect.arrayContaining([
        ["email", "failed"],
        ["push", "sent"],
      ]),
    );
  });

  it("asks for a retry on a transient failure, after finishing the other channels; the retry sends once", async () => {
    await store.applyContact({ kind: "created", at: 1, contact: contact({ email: "ann@flaky.test" }) });
    await expect(notifier.notify(confirmed, prepare())).rejects.toMatchObject({
      code: "PROVIDER_UNAVAILABLE",
    });
    expect(events("notification.sent").map((p) => (p as { channel: string }).channel)).toEqual([
      "push",
      "sms",
    ]);
    await notifier.notify(confirmed, prepare());
    expect(provider.sent()).toHaveLength(3);
    expect(events("notification.sent")).toHaveLength(3);
    expect(events("notification.sent")[2]).toMatchObject({ channel: "email", notificationId: "n1" });
  });

  it("resumes a notification left sending (crash after the claim) with the same id", async () => {
    await store.applyContact({
      kind: "created",
      at: 1,
      contact: contact({ preferences: { email: true, push: false, sms: false } }),
    });
    await store.beginAll([{ key: "order.confirmed:o1:email", record: earlier }]);
    await notifier.notify(confirmed, prepare());
    expect(provider.sent().map((m) => m.notificationId)).toEqual(["earlier"]);
    expect(events("notification.sent")).toMatchObject([{ notificationId: "earlier" }]);
  });

  it("sends a fact again under the same ids when its claims were lost (Redis lost its last writes): the provider dedupes", async () => {
    // The default ids, derived from the fact and channel (not this suite's counter).
    const fresh = () => {
      const lost = new MemoryNotificationStore(async () => {});
      return { lost, notifier: createNotifier({ store: lost, provider, now: () => 0, cipher }) };
    };
    const first = fresh();
    await first.lost.applyContact({ kind: "created", at: 1, contact: contact() });
    await first.notifier.notify(confirmed, prepare());
    const ids = provider.sent().map((m) => m.notificationId);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    // A store without the claims (as after a restart from a snapshot taken before them).
    const second = fresh();
    await second.lost.applyContact({ kind: "created", at: 1, contact: contact() });
    await second.notifier.notify(confirmed, prepare());
    expect(provider.sent().map((m) => m.notificationId)).toEqual(ids);
  });

  it("asks for a retry when the user is not projected yet, and sends nothing to a deleted user", async () => {
    await expect(notifier.notify(confirmed, prepare())).rejects.toMatchObject({
      code: "USER_UNKNOWN",
      retryable: true,
    });
    await store.applyContact({ kind: "created", at: 1, contact: contact() });
    await store.applyContact({ kind: "deleted", at: 2, userId: "u1" });
    await notifier.notify(confirmed, prepare());
    expect(provider.sent()).toEqual([]);
    expect(published).toEqual([]);
  });
});
