/**
 * Break-12 F1 and F5: with HMAC, whoever holds a producer's key can forge its messages, so the
 * launcher hands each process only its own key and its producers' keys, and a service's Redis user
 * may write dead letters of its own group only. Over a real Redis with the ACL users the launcher
 * uses, and with exactly the keys the launcher hands the attacker's process:
 * - the gateway (internet-facing) cannot get a `payment.processed` accepted by the order service
 *   through a group's redeliver stream;
 * - the shipping service cannot plant a dead letter that an operator's retry then applies.
 */
import { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { Publisher } from "../lib/bus/publisher.js";
import {
  FIELD_BODY,
  FIELD_OWNER,
  FIELD_TOPIC,
  redeliverStreamKey,
} from "../lib/bus/transports/redis-stream-keys.js";
import { DeadLetterQueue } from "../lib/dlq/dead-letter-queue.js";
import { createRedisPlatform, type Platform } from "../lib/runtime/platform.js";
import { Keyring } from "../lib/security/keyring.js";
import { createSigner } from "../lib/security/signing.js";
import { type OrderHarness, startOrderService } from "../services/order/test-harness.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { planProcesses } from "./launcher.js";
import { provisionAclUsers, type RedisCredentials } from "./redis-acl.js";

/** Orders stop at "reserved": the simulated payment service never answers. */
const WAITING = { payment: "silent", shipping: "silent" } as const;

describeWithRedis("signing keys and dead letters per process (break-12 F1, F5)", (getRedis) => {
  let platform: Platform;
  let h: OrderHarness | undefined;
  let users: Map<string, RedisCredentials>;
  const clients: Redis[] = [];

  beforeEach(async () => {
    await getRedis().flush();
    users = await provisionAclUsers(getRedis().client());
    platform = createRedisPlatform({ url: getRedis().url });
    h = await startOrderService(platform, {}, WAITING);
  });

  afterEach(async () => {
    await h?.stop();
    h = undefined;
    await platform.close();
    for (const client of clients.splice(0)) client.disconnect();
  });

  /** What the launcher hands the process `label`: its Redis connection (own ACL user) and keyring. */
  const asProcess = (label: string) => {
    const spec = planProcesses({ redisUrl: getRedis().url, redisUsers: users }).find(
      (s) => s.label === label,
    )!;
    const redis = new Redis(getRedis().url, {
      username: spec.env.REDIS_USERNAME!,
      password: spec.env.REDIS_PASSWORD!,
      lazyConnect: true,
    });
    clients.push(redis);
    return { redis, keyring: Keyring.parse(spec.env.BUS_SIGNING_KEYS!) };
  };

  /** A `payment.processed` for the order, signed with each key the keyring holds (one body per key). */
  const forgeries = (keyring: Keyring, orderId: string, amount: number): string[] =>
    keyring.services().map((service) => {
      const publisher = new Publisher({
        events: AllEvents,
        transport: platform.transport,
        source: { service: "payment", instance: "payment-1" },
        signer: createSigner(keyring, service),
      });
      return publisher.prepare("payment.processed", {
        orderId,
        paymentId: `pay-${orderId}`,
        amount,
        currency: "USD",
      }).message.body;
    });

  const pendingOrder = async () => {
    const orderId = await h!.place();
    const requested = await waitFor(
      () => h!.sim.about(orderId, "payment.requested")[0],
      30_000,
      `payment.requested of ${orderId}`,
    );
    await h!.waitForStatus(orderId, "reserved", 30_000);
    return { orderId, amount: requested.payload.amount as number };
  };

  /** The order group's rejections (dead letters) of redelivered messages, once there are `count`. */
  const rejections = (count: number) =>
    waitFor(
      async () => {
        const all = (await platform.deadLetters.list({ group: "order" })).filter((r) =>
          /^(SIGNATURE_INVALID|WRONG_PRODUCER)/.test(r.reason),
        );
        return all.length >= count ? all : undefined;
      },
      30_000,
      `${count} rejections by the order group`,
    );

  it("the gateway's credentials cannot produce a payment.processed that the order service accepts", async () => {
    const order = await pendingOrder();
    const gateway = asProcess("gateway");
    expect(gateway.keyring.current("payment")).toBeUndefined();
    const bodies = forgeries(gateway.keyring, order.orderId, order.amount);
    expect(bodies.length).toBeGreaterThan(0);
    // The gateway may append to a group's redeliver stream (DLQ retries): it does, with each body.
    for (const body of bodies)
      await gateway.redis.xadd(
        redeliverStreamKey("order"),
        "*",
        FIELD_TOPIC,
        "payment.processed",
        FIELD_OWNER,
        "payment",
        FIELD_BODY,
        body,
      );

    const rejected = await rejections(bodies.length);
    expect(rejected.map((r) => r.reason.split(":")[0])).toEqual(bodies.map(() => "WRONG_PRODUCER"));
    const view = await h!.request<{ status: string }>("GET", `/orders/${order.orderId}`);
    expect(view.body.status).toBe("reserved");
    expect(h!.sim.about(order.orderId, "shipping.shipment.requested")).toEqual([]);
  }, 120_000);

  it("shipping's user cannot plant a dead letter that an operator's retry then applies", async () => {
    const order = await pendingOrder();
    const shipping = asProcess("shipping");
    expect(shipping.keyring.current("payment")).toBeUndefined();
    const bodies = forgeries(shipping.keyring, order.orderId, order.amount);
    // Planted records: in the order group's name (the reviewer's attack), and in shipping's own
    // name but naming the order group inside.
    const planted: string[] = [];
    for (const [i, body] of bodies.entries()) {
      for (const id of [`order|payment.processed|9-${i}`, `shipping|payment.processed|9-${i}`]) {
        const record = {
          id: `order|payment.processed|9-${i}`,
          group: "order",
          topic: "payment.processed",
          owner: "payment",
          deliveryId: `9-${i}`,
          body,
          reason: "handler kept failing",
          attempts: [],
          deadLetteredAt: new Date().toISOString(),
        };
        const wrote = await shipping.redis
          .multi()
          .hset(`{dlq}:rec:${id}`, "data", JSON.stringify(record), "status", "dead", "retries", "0")
          .zadd("{dlq}:idx", Date.now(), id)
          .exec()
          .then(
            (results) => results?.every(([error]) => error === null) ?? false,
            () => false,
          );
        if (wrote) planted.push(id);
      }
    }

    // An operator retries every dead letter the list shows (a routine action).
    const dlq = new DeadLetterQueue({
      store: platform.deadLetters,
      redeliver: platform.transport.redeliver.bind(platform.transport),
    });
    const listed = (await platform.deadLetters.list({})).map((r) => r.id);
    const result = await dlq.retryMany([...new Set([...planted, ...listed])], { actor: "ops" });

    // Whatever was redelivered to the order group is rejected, never handled.
    await rejections(result.retried.length);
    const view = await h!.request<{ status: string }>("GET", `/orders/${order.orderId}`);
    expect(view.body.status).toBe("reserved");
    expect(h!.sim.about(order.orderId, "shipping.shipment.requested")).toEqual([]);
    // A record in shipping's name never reaches another group: it is not a record of its key.
    const own = planted.filter((id) => id.startsWith("shipping|"));
    expect(own.length).toBeGreaterThan(0);
    expect(result.failed.filter((f) => own.includes(f.id)).map((f) => f.id)).toEqual(own);
    // Nothing planted in the order group's name got in.
    expect(planted.filter((id) => id.startsWith("order|"))).toEqual([]);
  }, 120_000);
});
