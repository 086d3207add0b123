import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createMemoryPlatform, createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import { trackingNumberFor } from "./carrier.js";
import { createShippingService, type ShippingServiceOptions } from "./service.js";

const OUTPUTS = [
  "shipping.shipment.prepared",
  "shipping.shipment.failed",
  "shipping.shipment.cancelled",
  "shipping.shipment.delivered",
  "shipping.shipment.cancel.skipped",
] as const;
type Output = (typeof OUTPUTS)[number];
type Seen = { event: Output; payload: Record<string, unknown>; correlationId: string };

/** Observes the shipping service's output events in a test consumer group. */
async function observe(platform: Platform) {
  const seen: Seen[] = [];
  const group = `observer-${randomUUID()}`;
  const observer = new Subscriber({ events: AllEvents, transport: platform.transport, group, consumer: "t" });
  for (const event of OUTPUTS) {
    observer.on(event, (payload, ctx) => {
      seen.push({
        event,
        payload: payload as Record<string, unknown>,
        correlationId: ctx.envelope.correlationId,
      });
    });
  }
  await platform.transport.ensureGroups(group, observer.topics());
  await observer.start();
  const of = (event: Output, orderId: string) =>
    seen.filter((e) => e.event === event && e.payload.orderId === orderId);
  return { seen, of, stop: () => observer.stop() };
}

const launch = (platform: Platform, options: ShippingServiceOptions) =>
  startService(createShippingService(options), {
    events: AllEvents,
    platform,
    port: 0,
    logger: createLogger({ service: "shipping", level: "silent" }),
  });

const sagaPublisher = (platform: Platform) =>
  new Publisher({
    events: AllEvents,
    transport: platform.transport,
    source: { service: "order", instance: "test" },
  });

const request = (orderId: string, productId = "p-1") => ({
  orderId,
  userId: "u-1",
  items: [{ productId, quantity: 2 }],
});
const cancel = (orderId: string) => ({ orderId, reason: "payment failed" });
/** The saga's pivot: the order completed, so its shipment goes out. */
const completed = (orderId: string) => ({
  orderId,
  userId: "u-1",
  total: 100,
  currency: "USD",
  durationMs: 5,
});
/** Lets messages that should change nothing reach the handler before asserting that they did not. */
const settle = () => sleep(150);

describe("shipping service (memory platform, fake clock)", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setup(options: ShippingServiceOptions = {}) {
    let clock = Date.parse("2030-01-01T00:00:00.000Z");
    const platform = createMemoryPlatform();
    const observer = await observe(platform);
    const running: RunningService = await launch(platform, {
      now: () => clock,
      deliveryDelayMs: 5_000,
      pollIntervalMs: 10,
      ...options,
    });
    cleanup = async () => {
      await observer.stop();
      await running.stop();
      await platform.close();
    };
    const shipment = async (orderId: string) => {
      const response = await fetch(`${running.url}/shipments/${orderId}`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    return {
      saga: sagaPublisher(platform),
      ...observer,
      shipment,
      advance: (ms: number) => (clock += ms),
      running,
    };
  }

  it("prepares once when asked twice, then delivers once after the delay", async () => {
    const t = await setup();
    const sent = await t.saga.publish("shipping.shipment.requested", request("o-1"));
    await t.saga.publish("shipping.shipment.requested", request("o-1"));
    await waitFor(() => t.of("shipping.shipment.prepared", "o-1").length === 1);
    await settle();
    const [prepared] = t.of("shipping.shipment.prepared", "o-1");
    expect(t.of("shipping.shipment.prepared", "o-1")).toHaveLength(1);
    expect(prepared?.payload).toMatchObject({ carrier: "SimShip", trackingNumber: trackingNumberFor("o-1") });
    expect((await t.shipment("o-1")).body).toMatchObject({
      status: "prepared",
      shipmentId: prepared?.payload.shipmentId,
    });
    expect(t.of("shipping.shipment.delivered", "o-1")).toEqual([]);
    await t.saga.publish("order.completed", completed("o-1"));
    await waitFor(async () => (await t.shipment("o-1")).body.deliverAt !== undefined);
    t.advance(5_000);
    await waitFor(() => t.of("shipping.shipment.delivered", "o-1").length === 1);
    await settle();
    const delivered = t.of("shipping.shipment.delivered", "o-1");
    expect(delivered).toHaveLength(1);
    expect(delivered[0]?.correlationId).toBe(sent.correlationId);
    expect((await t.shipment("o-1")).body.status).toBe("delivered");
    expect((await t.shipment("unknown")).status).toBe(404);
  });

  it("rejects a noship- order permanently", async () => {
    const t = await setup();
    await t.saga.publish("shipping.shipment.requested", request("o-2", "noship-piano"));
    await waitFor(() => t.of("shipping.shipment.failed", "o-2").length === 1);
    expect(t.of("shipping.shipment.failed", "o-2")[0]?.payload).toMatchObject({ transient: false });
    expect((await t.shipment("o-2")).body.status).toBe("rejected");
  });

  it("turns a request that arrives after its cancellation into a no-op", async () => {
    const t = await setup();
    await t.saga.publish("order.compensation.shipment.cancel", cancel("o-3"));
    await waitFor(async () => (await t.shipment("o-3")).status === 200);
    await t.saga.publish("shipping.shipment.requested", request("o-3"));
    await settle();
    expect(t.seen.filter((e) => e.payload.orderId === "o-3").map((e) => e.event)).toEqual([
      "shipping.shipment.cancel.skipped",
    ]);
    expect((await t.shipment("o-3")).body.status).toBe("voided");
  });

  it("never delivers a prepared shipment whose order did not complete (late reply after the saga failed)", async () => {
    const t = await setup();
    await t.saga.publish("shipping.shipment.requested", request("o-6"));
    await waitFor(() => t.of("shipping.shipment.prepared", "o-6").length === 1);
    t.advance(60_000);
    await settle();
    expect(t.of("shipping.shipment.delivered", "o-6")).toEqual([]);
    await t.saga.publish("order.compensation.shipment.cancel", cancel("o-6"));
    await waitFor(() => t.of("shipping.shipment.cancelled", "o-6").length === 1);
    t.advance(60_000);
    await settle();
    expect(t.of("shipping.shipment.delivered", "o-6")).toEqual([]);
  });

  it("answers a cancel of a delivered shipment with a refusal (too late), and repeats it on a redelivery", async () => {
    const t = await setup();
    await t.saga.publish("shipping.shipment.requested", request("o-7"));
    await waitFor(() => t.of("shipping.shipment.prepared", "o-7").length === 1);
    await t.saga.publish("order.completed", completed("o-7"));
    await waitFor(async () => (await t.shipment("o-7")).body.deliverAt !== undefined);
    t.advance(5_000);
    await waitFor(() => t.of("shipping.shipment.delivered", "o-7").length === 1);
    await t.saga.publish("order.compensation.shipment.cancel", cancel("o-7"));
    await t.saga.publish("order.compensation.shipment.cancel", cancel("o-7"));
    await waitFor(() => t.of("shipping.shipment.cancel.skipped", "o-7").length === 2);
    expect(t.of("shipping.shipment.cancel.skipped", "o-7")[0]?.payload).toMatchObject({
      outcome: "too_late",
    });
    expect((await t.shipment("o-7")).body.status).toBe("delivered");
  });

  it("cancels a prepared shipment once and never delivers it", async () => {
    const t = await setup();
    await t.saga.publish("shipping.shipment.requested", request("o-4"));
    await waitFor(() => t.of("shipping.shipment.prepared", "o-4").length === 1);
    await t.saga.publish("order.compensation.shipment.cancel", cancel("o-4"));
    await t.saga.publish("order.compensation.shipment.cancel", cancel("o-4"));
    await waitFor(() => t.of("shipping.shipment.cancelled", "o-4").length === 1);
    t.advance(60_000);
    await settle();
    expect(t.of("shipping.shipment.cancelled", "o-4")).toHaveLength(1);
    expect(t.of("shipping.shipment.delivered", "o-4")).toEqual([]);
    expect((await t.shipment("o-4")).body.status).toBe("cancelled");
  });

  it("does not reply when the carrier is slower than its time budget (slowship-)", async () => {
    const t = await setup({ carrierTimeoutMs: 30, slowDelayMs: 60_000 });
    await t.saga.publish("shipping.shipment.requested", request("o-5", "slowship-anvil"));
    await sleep(200);
    expect(t.seen.filter((e) => e.payload.orderId === "o-5")).toEqual([]);
    expect((await t.shipment("o-5")).status).toBe(404);
  });
});

describeWithRedis("shipping service (Redis platform)", (getRedis) => {
  it("prepares, and delivers each shipment exactly once with two instances polling", async () => {
    const platforms = [
      createRedisPlatform({ url: getRedis().url }),
      createRedisPlatform({ url: getRedis().url }),
    ];
    const observer = await observe(platforms[0]!);
    const options = { deliveryDelayMs: 200, pollIntervalMs: 10 };
    const instances = await Promise.all(platforms.map((p) => launch(p, options)));
    try {
      const saga = sagaPublisher(platforms[0]!);
      const orders = ["r-1", "r-2", "r-3", "r-4"];
      for (const orderId of orders) {
        await saga.publish("shipping.shipment.requested", request(orderId));
        await saga.publish("shipping.shipment.requested", request(orderId));
      }
      await waitFor(
        () => orders.every((o) => observer.of("shipping.shipment.prepared", o).length > 0),
        10_000,
      );
      for (const orderId of orders) await saga.publish("order.completed", completed(orderId));
      await waitFor(
        () => orders.every((o) => observer.of("shipping.shipment.delivered", o).length > 0),
        10_000,
      );
      await sleep(300);
      for (const orderId of orders) {
        expect(observer.of("shipping.shipment.prepared", orderId)).toHaveLength(1);
        expect(observer.of("shipping.shipment.delivered", orderId)).toHaveLength(1);
      }
      const record = (await (await fetch(`${instances[1]!.url}/shipments/r-1`)).json()) as { status: string };
      expect(record.status).toBe("delivered");
    } finally {
      await observer.stop();
      await Promise.all(instances.map((i) => i.stop()));
      await Promise.all(platforms.map((p) => p.close()));
    }
  });
});
