import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/catalog.js";
import type { NotificationPreferences } from "../../contracts/common.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createMemoryPlatform, createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import type { NotificationRecord } from "./domain.js";
import { userDataCipherFromEnv } from "../../lib/security/user-data.js";
import { SimulatedProviders } from "./providers.js";
import { createNotificationService } from "./service.js";
import { MemoryNotificationStore, type NotificationStore } from "./store.js";
import type { ContactChange } from "./domain.js";
import { type Observer, observe, testPublisher } from "../../test-support/observer.js";

interface Harness {
  platforms: Platform[];
  instances: RunningService[];
  observer: Observer;
  provider: SimulatedProviders;
  logLines: string[];
  users: Publisher<typeof AllEvents>;
  orders: Publisher<typeof AllEvents>;
}

/** One or more instances of the service, each on its own platform (same Redis URL) or one memory platform. */
async function startHarness(platforms: Platform[], store?: NotificationStore): Promise<Harness> {
  const [first] = platforms as [Platform];
  const observer = await observe(first, ["notification.sent", "notification.failed"]);
  const provider = new SimulatedProviders();
  const logLines: string[] = [];
  const definition = createNotificationService({ provider, ...(store ? { store } : {}) });
  const instances = [];
  for (const platform of platforms) {
    const logger = createLogger({
      service: "notification",
      level: "warn",
      destination: { write: (l) => logLines.push(l) },
    });
    instances.push(await startService(definition, { events: AllEvents, platform, port: 0, logger }));
  }
  return {
    platforms,
    instances,
    observer,
    provider,
    logLines,
    users: testPublisher(first, "user"),
    orders: testPublisher(first, "order"),
  };
}

async function stopHarness(h: Harness): Promise<void> {
  for (const instance of h.instances) await instance.stop();
  await h.observer.stop();
  for (const platform of h.platforms) await platform.close();
}

const ALL: NotificationPreferences = { email: true, push: true, sms: true };

async function createUser(
  h: Harness,
  userId: string,
  over: { email?: string; phone?: string; preferences?: NotificationPreferences } = {},
) {
  // Sealed as the user service does; this process's (development) keys are the service's too.
  const cipher = userDataCipherFromEnv();
  await h.users.publish("user.created", {
    userId,
    name: `Name ${userId}`,
    email: cipher.seal(userId, "email", over.email ?? `${userId}@x.test`),
    ...(over.phone === undefined ? {} : { phone: cipher.seal(userId, "phone", over.phone) }),
    preferences: over.preferences ?? { email: true, push: true, sms: false },
  });
}

const completed = (orderId: string, userId: string) => ({
  orderId,
  userId,
  total: 4200,
  currency: "USD",
  durationMs: 12,
});

async function query(
  h: Harness,
  params: string,
): Promise<{ status: number; body: { notifications?: NotificationRecord[] } }> {
  const response = await fetch(`${h.instances[0]?.url}/notifications?${params}`);
  return {
    status: response.status,
    body: (await response.json()) as { notifications?: NotificationRecord[] },
  };
}

const sentFor = (h: Harness, orderId: string) =>
  h.observer.of("notification.sent").filter((e) => (e.payload as { orderId?: string }).orderId === orderId);

/** Every notification of the order has its outcome event (and nothing is still sending). */
async function settled(h: Harness, orderId: string, count: number): Promise<NotificationRecord[]> {
  return waitFor(
    async () => {
      const { body } = await query(h, `orderId=${orderId}`);
      const records = body.notifications ?? [];
      return records.length === count && records.every((r) => r.status !== "sending") && records;
    },
    5_000,
    `${count} notifications of ${orderId}`,
  ) as Promise<NotificationRecord[]>;
}

describe("notification service (memory platform)", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness([createMemoryPlatform()]);
  });
  afterEach(async () => {
    await stopHarness(h);
  });

  it("welcomes a new user by email once, and records it", async () => {
    await createUser(h, "u1");
    await waitFor(() => h.observer.of("notification.sent").length === 1);
    expect(h.observer.of("notification.sent")[0]?.payload).toMatchObject({
      userId: "u1",
      channel: "email",
      template: "welcome",
    });
    expect(h.provider.sent().map((m) => m.to)).toEqual(["u1@x.test"]);
    const { body } = await query(h, "userId=u1");
    expect(body.notifications).toMatchObject([
      { userId: "u1", template: "welcome", channel: "email", status: "sent" },
    ]);
  });

  it("notifies an order fact delivered twice once per channel, on the user's channels only", async () => {
    await createUser(h, "u1", { preferences: { email: true, push: false, sms: true } }); // sms on, but no phone
    const fact = h.orders.prepare("order.completed", completed("o1", "u1"));
    await h.platforms[0]?.transport.publish([fact.message, fact.message]);
    await h.orders.publish("order.completed", completed("o1", "u1"));
    const records = await settled(h, "o1", 1);
    expect(records).toMatchObject([
      { channel: "email", template: "order.confirmed", orderId: "o1", status: "sent" },
    ]);
    await h.orders.publish("order.completed", completed("o-sentinel", "u1"));
    await waitFor(() => sentFor(h, "o-sentinel").length === 1);
    await sleep(50);
    expect(sentFor(h, "o1")).toHaveLength(1);
    expect(h.provider.sent().filter((m) => m.text.includes("o1 "))).toHaveLength(1);
  });

  it("sends SMS to a user with a phone who wants it", async () => {
    await createUser(h, "u2", { phone: "+1 555 0100", preferences: ALL });
    await h.orders.publish("order.failed", {
      orderId: "o2",
      userId: "u2",
      reason: "declined",
      stage: "payment",
      compensated: [],
    });
    const records = await settled(h, "o2", 3);
    expect(records.map((r) => r.channel).sort()).toEqual(["email", "push", "sms"]);
    expect(h.provider.sent().find((m) => m.channel === "sms")?.to).toBe("+1 555 0100");
  });

  it("reports a bounced email with notification.failed, without retrying it", async () => {
    await createUser(h, "u3", {
      email: "u3@bounce.test",
      preferences: { email: true, push: false, sms: false },
    });
    await h.orders.publish("order.cancelled", {
      orderId: "o3",
      userId: "u3",
      reason: "customer request",
      compensated: [],
    });
    await waitFor(() => h.observer.of("notification.failed").length === 2); // welcome and cancellation
    expect(h.observer.of("notification.failed").map((e) => e.payload)).toContainEqual(
      expect.objectContaining({
        userId: "u3",
        channel: "email",
        reason: "email bounced: mailbox does not exist",
      }),
    );
    expect((await settled(h, "o3", 1))[0]?.status).toBe("failed");
    expect(h.logLines.filter((l) => l.includes("will retry"))).toEqual([]);
  });

  it("retries a transient provider failure and then sends once", async () => {
    await createUser(h, "u4", {
      email: "u4@flaky.test",
      preferences: { email: true, push: false, sms: false },
    });
    await h.orders.publish("order.delivered", {
      orderId: "o4",
      userId: "u4",
      deliveredAt: "2024-01-01T00:00:00.000Z",
    });
    expect(await settled(h, "o4", 1)).toMatchObject([{ status: "sent" }]);
    const toU4 = () => h.provider.sent().filter((m) => m.to === "u4@flaky.test");
    await waitFor(() => toU4().length === 2, 5_000, "welcome and delivery sent");
    await sleep(50);
    expect(
      toU4()
        .map((m) => m.subject)
        .sort(),
    ).toEqual(["Order delivered", "Welcome!"]);
    expect(h.logLines.some((l) => l.includes("PROVIDER_UNAVAILABLE"))).toBe(true);
  });

  it("retries a fact for a user not projected yet, and notifies once the user arrives", async () => {
    await h.orders.publish("order.completed", completed("o5", "u5"));
    await waitFor(() => h.logLines.some((l) => l.includes("USER_UNKNOWN")), 5_000, "a failed first attempt");
    await createUser(h, "u5");
    expect(await settled(h, "o5", 2)).toMatchObject([{ status: "sent" }, { status: "sent" }]);
  });

  it("notifies a deleted user of nothing", async () => {
    await createUser(h, "u6");
    await waitFor(() => h.observer.of("notification.sent").length === 1);
    await h.users.publish("user.deleted", { userId: "u6" });
    await createUser(h, "u7");
    await waitFor(() => h.observer.of("notification.sent").length === 2);
    await h.orders.publish("order.completed", completed("o6", "u6"));
    await h.orders.publish("order.completed", completed("o7", "u7"));
    await settled(h, "o7", 2);
    await sleep(50);
    expect((await query(h, "orderId=o6")).body.notifications).toEqual([]);
  });

  it("tells nobody of an order refused because its user does not exist, and parks nothing", async () => {
    await h.orders.publish("order.failed", {
      orderId: "o-ghost",
      userId: "u-ghost",
      reason: "user not_found",
      stage: "validation",
      compensated: [],
    });
    await createUser(h, "u8");
    await h.orders.publish("order.completed", completed("o8", "u8"));
    await settled(h, "o8", 2);
    expect(h.logLines.some((l) => l.includes("USER_UNKNOWN"))).toBe(false);
    expect((await query(h, "orderId=o-ghost")).body.notifications).toEqual([]);
  });

  it("lists newest first and rejects a query without userId or orderId", async () => {
    await createUser(h, "u8", { preferences: { email: true, push: false, sms: false } });
    await waitFor(() => h.observer.of("notification.sent").length === 1);
    await h.orders.publish("order.completed", completed("o8", "u8"));
    await settled(h, "o8", 1);
    const { body } = await query(h, "userId=u8");
    expect(body.notifications?.map((r) => r.template)).toEqual(["order.confirmed", "welcome"]);
    expect((await query(h, "userId=u8&limit=1")).body.notifications).toHaveLength(1);
    expect((await query(h, "")).status).toBe(400);
  });

  it("names the missing parameter in a query without userId or orderId (query:userId, not query)", async () => {
    const response = await fetch(`${h.instances[0]?.url}/notifications`);
    const body = (await response.json()) as { error: { details: { path: string; message: string }[] } };
    expect(response.status).toBe(400);
    expect(body.error.details).toEqual([{ path: "query:userId", message: "userId or orderId is required" }]);
  });
});

/** The memory store, telling which user events it applied (true) or found stale (false). */
class RecordingStore extends MemoryNotificationStore {
  readonly outcomes: { kind: ContactChange["kind"]; applied: boolean }[] = [];
  override async applyContact(change: ContactChange): Promise<boolean> {
    const applied = await super.applyContact(change);
    this.outcomes.push({ kind: change.kind, applied });
    return applied;
  }
}

// break35 F7: the user service's clock follows a backward step of Redis's clock; its next
// user.updated is dated before the one it replaces, and was dropped: SMS went on to a removed phone.
describe("notification service (memory platform): a user's changes after a backward clock step", () => {
  let h: Harness;
  let store: RecordingStore;
  beforeEach(async () => {
    const platform = createMemoryPlatform();
    store = new RecordingStore((messages) => platform.transport.publish(messages));
    h = await startHarness([platform], store);
  });
  afterEach(async () => {
    await stopHarness(h);
  });

  it("applies an opt-out dated an hour before the contact it replaces, and sends no SMS to the removed phone", async () => {
    const cipher = userDataCipherFromEnv();
    const profile = { userId: "u1", name: "Step", email: cipher.seal("u1", "email", "u1@x.test") };
    await h.users.publish("user.created", {
      ...profile,
      phone: cipher.seal("u1", "phone", "+1 555 0142"),
      preferences: ALL,
      version: 1,
    });
    await waitFor(() => store.outcomes.length === 1, 10_000, "user.created applied");
    const stepped = new Publisher({
      events: AllEvents,
      transport: h.platforms[0]!.transport,
      source: { service: "user", instance: "stepped-back" },
      clock: () => Date.now() - 3_600_000,
    });
    await stepped.publish("user.updated", {
      ...profile,
      preferences: { email: true, push: true, sms: false },
      changed: ["phone", "preferences"],
      version: 2,
    });
    await waitFor(() => store.outcomes.length === 2, 10_000, "user.updated handled");
    expect(store.outcomes[1]).toEqual({ kind: "updated", applied: true });
    await h.orders.publish("order.completed", completed("o1", "u1"));
    const records = await settled(h, "o1", 2);
    expect(records.map((r) => r.channel).sort()).toEqual(["email", "push"]);
    expect(h.provider.sent().filter((m) => m.channel === "sms")).toEqual([]);
  });
});

describeWithRedis("notification service (Redis platform, two instances)", (getRedis) => {
  let h: Harness;
  beforeEach(async () => {
    await getRedis().flush();
    const url = getRedis().url;
    h = await startHarness([createRedisPlatform({ url }), createRedisPlatform({ url })]);
  });
  afterEach(async () => {
    await stopHarness(h);
  });

  it("sends one notification per fact and channel when every fact is delivered twice", async () => {
    const users = ["r1", "r2", "r3"];
    for (const id of users) await createUser(h, id, { phone: "+1 555 0199", preferences: ALL });
    for (const id of users) await createUser(h, id, { phone: "+1 555 0199", preferences: ALL }); // re-sent copies
    for (const id of users) {
      for (let copy = 0; copy < 2; copy++)
        await h.orders.publish("order.completed", completed(`order-${id}`, id));
    }
    for (const id of users) await settled(h, `order-${id}`, 3);
    await waitFor(() => h.observer.of("notification.sent").length >= 12, 5_000, "12 notification.sent");
    await sleep(100);
    expect(h.observer.of("notification.sent")).toHaveLength(12); // 3 welcomes + 3 orders x 3 channels
    expect(h.provider.sent()).toHaveLength(12);
    const keys = h.provider.sent().map((m) => `${m.channel}:${m.to}:${m.text}`);
    expect(new Set(keys).size).toBe(12);
  });
});
