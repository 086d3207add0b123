/**
 * The operator's parked-shipment routes on the running service and real Redis: a shipment whose
 * record does not read is parked by the poller, listed, re-queued once over HTTP after the record is
 * repaired, and delivered once.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { dueKey, shipmentKey } from "./keys.js";
import { createShippingService } from "./service.js";

type ErrorAnswer = { error: { code: string } };
type Parked = { orderId: string; reason: string; parkedAt: string; tries?: number };

describeWithRedis("shipping routes: parked shipments (Redis)", (getRedis) => {
  const platforms: Platform[] = [];
  const running: RunningService[] = [];
  const clients: Redis[] = [];
  afterEach(async () => {
    for (const r of running.splice(0)) await r.stop();
    for (const p of platforms.splice(0)) await p.close();
    for (const c of clients.splice(0)) c.disconnect();
  });
  const platform = () => {
    const p = createRedisPlatform({ url: getRedis().url });
    platforms.push(p);
    return p;
  };

  it("parks an unreadable shipment, lists it, re-queues it once after the repair, and delivers it once", async () => {
    const redis = new Redis(getRedis().url);
    clients.push(redis);
    const bus = platform();
    const delivered: string[] = [];
    const observer = new Subscriber({
      events: AllEvents,
      transport: bus.transport,
      group: "obs",
      consumer: "t",
    });
    observer.on("shipping.shipment.delivered", (payload) => {
      delivered.push(payload.orderId);
    });
    await bus.transport.ensureGroups("obs", observer.topics());
    await observer.start();
    const saga = new Publisher({
      events: AllEvents,
      transport: bus.transport,
      source: { service: "order", instance: "t" },
    });
    try {
      const service = await startService(
        createShippingService({ deliveryDelayMs: 200, pollIntervalMs: 20, parkAfter: 1 }),
        {
          events: AllEvents,
          platform: platform(),
          port: 0,
          logger: createLogger({ service: "shipping", level: "silent" }),
        },
      );
      running.push(service);
      const orderId = `o-${randomUUID()}`;
      await saga.publish("shipping.shipment.requested", {
        orderId,
        userId: "u-1",
        items: [{ productId: "p-1", quantity: 1 }],
      });
      const key = shipmentKey(orderId);
      await waitFor(async () => (await redis.hget(key, "status")) === "prepared", 10_000, "prepared");
      // Damaged before the completion: the record is JSON the schedule script splices but the
      // schema refuses (no createdAt), so every read of it at delivery fails.
      const good = JSON.parse((await redis.hget(key, "data"))!) as Record<string, unknown>;
      const { createdAt, ...damaged } = good;
      await redis.hset(key, "data", JSON.stringify(damaged));
      await saga.publish("order.completed", {
        orderId,
        userId: "u-1",
        total: 1,
        currency: "USD",
        durationMs: 1,
      });

      const list = async () =>
        (await (await fetch(`${service.url}/shipments/parked?limit=10`)).json()) as { parked: Parked[] };
      const parked = await waitFor(
        async () => (await list()).parked.find((p) => p.orderId === orderId),
        15_000,
        "parked",
      );
      expect(parked).toMatchObject({ orderId, tries: 1 });
      expect(parked.reason).toMatch(/createdAt/);
      expect(Number.isNaN(Date.parse(parked.parkedAt))).toBe(false);
      expect(await redis.zscore(dueKey(), orderId)).toBeNull();

      // The operator repairs the record, then re-queues it: once.
      const repaired = { ...(JSON.parse((await redis.hget(key, "data"))!) as object), createdAt };
      await redis.hset(key, "data", JSON.stringify(repaired));
      const before = Date.now();
      // Two operators at once: one re-queues, the other is told it is not parked (one script each).
      const requeue = () => fetch(`${service.url}/shipments/${orderId}/requeue`, { method: "POST" });
      const answers = await Promise.all([requeue(), requeue()]);
      expect(answers.map((r) => r.status).sort()).toEqual([200, 404]);
      const [ok, refused] = answers[0]!.status === 200 ? answers : [answers[1]!, answers[0]!];
      const answer = (await ok!.json()) as { orderId: string; requeued: boolean; dueAt: string };
      expect(answer).toMatchObject({ orderId, requeued: true });
      // Due now on Redis TIME (the local server's clock here), not in some future.
      expect(Math.abs(Date.parse(answer.dueAt) - before)).toBeLessThan(5_000);
      expect(((await refused!.json()) as ErrorAnswer).error.code).toBe("SHIPMENT_NOT_PARKED");
      const again = await requeue();
      expect(again.status).toBe(404);
      expect(((await again.json()) as ErrorAnswer).error.code).toBe("SHIPMENT_NOT_PARKED");

      await waitFor(() => delivered.includes(orderId), 15_000, "delivered");
      const record = (await (await fetch(`${service.url}/shipments/${orderId}`)).json()) as {
        status: string;
      };
      expect(record.status).toBe("delivered");
      expect((await list()).parked).toEqual([]);
      expect(delivered.filter((id) => id === orderId)).toHaveLength(1);
    } finally {
      await observer.stop();
    }
  });
});
