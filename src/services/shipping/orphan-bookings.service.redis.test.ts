/**
 * The orphan-booking pass as the shipping service runs it (break28 F2): two instances over one
 * Redis, a booking the carrier holds for an order lost with Redis's last writes (no shipment record,
 * no order): once past the grace, one of the instances cancels it by key, the metric
 * `ordersaga_shipping_orphan_bookings_cancelled_total` counts it once across them, and the record
 * says why. A grace of 1.5 s (the configuration refuses less than 2 min; options do not) and passes
 * every 100 ms on the shared clock (Redis `TIME`).
 */
import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { carrierKeyFor, SimulatedCarrier } from "./carrier.js";
import { RedisCarrierLedger } from "./carrier-redis-ledger.js";
import { ORPHAN_BOOKING_REASON } from "./domain.js";
import { RedisShippingStore } from "./redis-store.js";
import { createShippingService } from "./service.js";

const GRACE_MS = 1_500;

describeWithRedis("the shipping service's orphan-booking pass (break28 F2)", (getRedis) => {
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
  const launch = async () => {
    const service = await startService(
      createShippingService({
        orphanGraceMs: GRACE_MS,
        orphanScanIntervalMs: 100,
        orphanScanFirstDelayMs: 10,
      }),
      {
        events: AllEvents,
        platform: platform(),
        port: 0,
        logger: createLogger({ service: "shipping", level: "silent" }),
      },
    );
    running.push(service);
    return service;
  };
  const cancelledCount = async (service: RunningService) =>
    (
      await service.metrics.registry
        .getSingleMetric("ordersaga_shipping_orphan_bookings_cancelled_total")
        ?.get()
    )?.values[0]?.value ?? 0;

  it("cancels a lost order's booking once across two instances, after the grace, and counts it once", async () => {
    await getRedis().flush();
    const instances = [await launch(), await launch()];
    const redis = getRedis().client();
    // The carrier (an external system) booked the order; its record and the order were lost.
    const carrier = new SimulatedCarrier({ ledger: new RedisCarrierLedger(redis) });
    const orderId = randomUUID();
    const key = carrierKeyFor(orderId);
    await carrier.prepare({ idempotencyKey: key, orderId, items: [{ productId: "p-1", quantity: 1 }] });
    const bookedAt = Date.now();
    const ledger = new RedisCarrierLedger(redis);
    const booking = await waitFor(
      async () => {
        const b = await ledger.get(key);
        return b?.status === "cancelled" ? b : undefined;
      },
      20_000,
      "the booking cancelled",
    );
    // Not before the grace (a little slack for the two clocks: the carrier's dates are this host's).
    expect(Date.now() - bookedAt).toBeGreaterThanOrEqual(GRACE_MS - 200);
    expect(await new RedisShippingStore(redis).get(orderId)).toMatchObject({
      status: "cancelled",
      reason: ORPHAN_BOOKING_REASON,
      shipmentId: booking.shipmentId,
    });
    // More passes on each instance (the shared position moves on past the booking): counted once.
    const cursor = async () => Number(await redis.get("{shipping}:orphan-scan:cursor"));
    const reached = await cursor();
    await waitFor(async () => (await cursor()) > reached + 500, 10_000, "more passes");
    const counts = await Promise.all(instances.map(cancelledCount));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(1);
  }, 60_000);
});
