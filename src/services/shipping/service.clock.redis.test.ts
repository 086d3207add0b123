/**
 * Delivery across instances whose clocks disagree (DESIGN §6: do not compare clocks across
 * machines): a shipment scheduled by an instance 60 s slow is not delivered early by one 60 s fast,
 * nor 60 s late by the slow one. Every instance schedules and polls on Redis `TIME`.
 */
import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createShippingService } from "./service.js";

const DELAY = 2_000;

describeWithRedis("shipping delivery with skewed instance clocks", (getRedis) => {
  const platforms: Platform[] = [];
  const running: RunningService[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    for (const p of platforms.splice(0)) await p.close();
  });
  const platform = () => {
    const p = createRedisPlatform({ url: getRedis().url });
    platforms.push(p);
    return p;
  };
  const launch = async (skewMs: number) => {
    const service = await startService(
      createShippingService({ deliveryDelayMs: DELAY, pollIntervalMs: 10 }),
      {
        events: AllEvents,
        platform: platform(),
        port: 0,
        logger: createLogger({ service: "shipping", level: "silent" }),
        now: () => Date.now() + skewMs,
      },
    );
    running.push(service);
    return service;
  };

  it("delivers a shipment scheduled by a slow instance neither early on a fast one nor late", async () => {
    const bus = platform();
    const delivered = new Map<string, number>();
    const observer = new Subscriber({
      events: AllEvents,
      transport: bus.transport,
      group: "obs",
      consumer: "t",
    });
    observer.on("shipping.shipment.delivered", (payload) => {
      delivered.set(payload.orderId, Date.now());
    });
    await bus.transport.ensureGroups("obs", observer.topics());
    await observer.start();
    const saga = new Publisher({
      events: AllEvents,
      transport: bus.transport,
      source: { service: "order", instance: "t" },
    });
    try {
      const slow = await launch(-60_000);
      const orderId = `o-${randomUUID()}`;
      await saga.publish("shipping.shipment.requested", {
        orderId,
        userId: "u-1",
        items: [{ productId: "p-1", quantity: 1 }],
      });
      const shipment = async () =>
        (await (await fetch(`${slow.url}/shipments/${orderId}`)).json()) as {
          status?: string;
          deliverAt?: string;
        };
      await waitFor(async () => (await shipment()).status === "prepared", 10_000, "prepared");
      const completedAt = Date.now();
      await saga.publish("order.completed", {
        orderId,
        userId: "u-1",
        total: 1,
        currency: "USD",
        durationMs: 1,
      });
      // Scheduled by the slow instance (the only one), then a fast one polls too.
      await waitFor(async () => (await shipment()).deliverAt, 10_000, "scheduled");
      await launch(60_000);
      const at = await waitFor(() => delivered.get(orderId), 15_000, "delivered");
      // Not early (a little slack for the clock's measured offset), and not 60 s late.
      expect(at - completedAt).toBeGreaterThanOrEqual(DELAY - 50);
      expect(at - completedAt).toBeLessThan(DELAY + 10_000);
    } finally {
      await observer.stop();
    }
  });
});
