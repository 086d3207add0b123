/**
 * The issue-12 attack: anyone who can write to Redis adds a `payment.processed` by hand. Every
 * forged, tampered, unsigned or wrong-owner message is dead-lettered with its reason code, counted,
 * and changes no order; key rotation keeps old messages valid while new ones use the new key.
 */
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { eventStreamKey, redeliverStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { Keyring } from "../../lib/security/keyring.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { createSigner } from "../../lib/security/signing.js";
import { testPublisher } from "../../test-support/observer.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";

/** Orders stop at "reserved" (no payment answer) or "paid" (no shipping answer). */
const WAITING = { payment: "silent", shipping: "silent" } as const;
const STREAM = eventStreamKey("payment", "payment.processed");

describeWithRedis("forged events over Redis", (getRedis) => {
  let platform: Platform;
  let h: OrderHarness | undefined;

  beforeEach(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
  });

  afterEach(async () => {
    await h?.stop();
    h = undefined;
    await platform.close();
  });

  /** An order waiting for its payment (the simulated payment service never answers). */
  const pendingOrder = async (harness: OrderHarness) => {
    const orderId = await harness.place();
    const requested = await waitFor(
      () => harness.sim.about(orderId, "payment.requested")[0],
      10_000,
      `payment.requested of ${orderId}`,
    );
    return { orderId, amount: requested.payload.amount as number };
  };

  const processed = (orderId: string, amount: number) => ({
    orderId,
    paymentId: `pay-${orderId}`,
    amount,
    currency: "USD",
  });

  /** The dead-letter record of the order group for a forged entry, once the service has parked it. */
  const rejection = (entryId: string) =>
    waitFor(
      async () => (await platform.deadLetters.list({ group: "order" })).find((r) => r.deliveryId === entryId),
      10_000,
      `dead letter of ${entryId}`,
    );

  const rejectedCount = async (reason: string) => {
    const text = await h!.running.metrics.metricsText();
    const line = text
      .split("\n")
      .find(
        (l) => l.startsWith("ordersaga_bus_messages_rejected_total{") && l.includes(`reason="${reason}"`),
      );
    return Number(line?.split(" ").at(-1) ?? 0);
  };

  it("rejects a copy of a real payment.processed with another order id, and the order does not advance", async () => {
    h = await startOrderService(platform, {}, WAITING);
    const paid = await pendingOrder(h);
    const victim = await pendingOrder(h);
    // A genuine payment.processed, signed by the payment service's key, is handled.
    await testPublisher(platform, "payment").publish(
      "payment.processed",
      processed(paid.orderId, paid.amount),
    );
    await h.waitForStatus(paid.orderId, "paid", 10_000);

    const [[, fields]] = (await platform.redis!.xrange(STREAM, "-", "+")) as [[string, string[]]];
    const genuine = fields[1]!;
    expect(genuine).toContain(paid.orderId);
    const forgedId = (await platform.redis!.xadd(
      STREAM,
      "*",
      "b",
      genuine.replaceAll(paid.orderId, victim.orderId),
    ))!;

    const record = await rejection(forgedId);
    expect(record.reason).toMatch(/^SIGNATURE_INVALID: signature invalid: bad MAC/);
    expect(await rejectedCount("SIGNATURE_INVALID")).toBe(1);
    const view = await h.request<{ status: string }>("GET", `/orders/${victim.orderId}`);
    expect(view.body.status).toBe("reserved");
    expect(h.sim.about(victim.orderId, "shipping.shipment.requested")).toEqual([]);
  });

  it("rejects a tampered payload, an unsigned message and one signed by another service", async () => {
    h = await startOrderService(platform, {}, WAITING);
    const order = await pendingOrder(h);
    const redis = platform.redis!;

    // Tampered: a validly signed message whose amount is changed on the wire.
    const signed = testPublisher(platform, "payment").prepare(
      "payment.processed",
      processed(order.orderId, 1),
    );
    const tampered = signed.message.body.replace('"amount":1,', `"amount":${order.amount},`);
    expect(tampered).not.toBe(signed.message.body);
    const tamperedId = (await redis.xadd(STREAM, "*", "b", tampered))!;

    // Unsigned: what a publisher without keys writes.
    const unsigned = new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "payment", instance: "intruder" },
      signer: null,
    });
    const unsignedEnvelope = await unsigned.publish(
      "payment.processed",
      processed(order.orderId, order.amount),
    );

    // Wrong service: shipping's genuine key, on an event payment owns.
    const byShipping = testPublisher(platform, "shipping");
    const wrongEnvelope = await byShipping.publish(
      "payment.processed",
      processed(order.orderId, order.amount),
    );

    const records = await waitFor(
      async () => {
        const all = await platform.deadLetters.list({ group: "order" });
        return all.length >= 3 ? all : undefined;
      },
      10_000,
      "three dead letters",
    );
    const reasonOf = (match: (r: (typeof records)[number]) => boolean) => records.find(match)?.reason;
    expect(reasonOf((r) => r.deliveryId === tamperedId)).toMatch(/^SIGNATURE_INVALID: .*bad MAC/);
    expect(reasonOf((r) => r.body.includes(unsignedEnvelope.id))).toMatch(/^SIGNATURE_INVALID: .*unsigned/);
    expect(reasonOf((r) => r.body.includes(wrongEnvelope.id))).toBe(
      'WRONG_PRODUCER: "payment.processed" is owned by "payment" but was signed by "shipping"',
    );
    expect(await rejectedCount("SIGNATURE_INVALID")).toBe(2);
    expect(await rejectedCount("WRONG_PRODUCER")).toBe(1);
    const view = await h.request<{ status: string }>("GET", `/orders/${order.orderId}`);
    expect(view.body.status).toBe("reserved");
  });

  it("key rotation: messages signed with the old key still verify, new ones carry the new key id", async () => {
    // Every service's keys as the process has them, plus a new current key for payment.
    const processRing = getProcessKeyring();
    for (const service of ["order", "user", "inventory", "payment", "shipping"]) processRing.ensure(service);
    const oldKid = processRing.current("payment")!.kid;
    const rotated = Keyring.parse(
      `payment:payment-new:${randomBytes(32).toString("base64")},${processRing.serialize()}`,
    );
    h = await startOrderService(platform, {}, WAITING, undefined, undefined, rotated);
    const before = await pendingOrder(h);
    const after = await pendingOrder(h);

    // Signed before the rotation (the old key), still in the stream when consumers have the new list.
    const old = await testPublisher(platform, "payment").publish(
      "payment.processed",
      processed(before.orderId, before.amount),
    );
    const current = new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "payment", instance: "rotated" },
      signer: createSigner(rotated, "payment"),
    });
    const fresh = current.prepare("payment.processed", processed(after.orderId, after.amount));
    expect(fresh.message.body).toContain('"sig":"payment-new.');
    await current.send([fresh]);

    await h.waitForStatus(before.orderId, "paid", 10_000);
    await h.waitForStatus(after.orderId, "paid", 10_000);
    const bodies = (await platform.redis!.xrange(STREAM, "-", "+")).map(([, f]) => f[1]!);
    expect(bodies.find((b) => b.includes(old.id))).toContain(`"sig":"${oldKid}.`);
    expect(await platform.deadLetters.list({ group: "order" })).toEqual([]);
  });

  it('counts redelivered messages of made-up topics under event="unknown", never one label set per topic', async () => {
    h = await startOrderService(platform, {}, WAITING);
    const tag = randomBytes(4).toString("hex");
    // What anyone allowed to append to a group's redeliver stream can write (break-12 F9).
    for (let i = 0; i < 3; i++)
      await platform.redis!.xadd(
        redeliverStreamKey("order"),
        "*",
        "t",
        `attacker-label-${i}-${tag}`,
        "o",
        "x",
        "b",
        "junk",
      );

    const text = await waitFor(
      async () => {
        const metrics = await h!.running.metrics.metricsText();
        return /^ordersaga_events_processed_total\{event="unknown",outcome="dead_lettered",[^}]*\} 3$/m.test(
          metrics,
        )
          ? metrics
          : undefined;
      },
      30_000,
      "three dead-lettered unknown events in the metrics",
    );
    expect(text).not.toContain("attacker-label");
    expect(text).toMatch(
      /^ordersaga_bus_messages_rejected_total\{event="unknown",reason="UNKNOWN_EVENT",[^}]*\} 3$/m,
    );
  }, 60_000);
});
