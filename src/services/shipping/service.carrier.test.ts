/**
 * Outcomes are facts (issue 8, "What to build" 1; finding F5): a carrier booking whose answer is late
 * or lost is settled by asking the carrier what the order's booking key did, never guessed; a retry
 * books nothing twice; a cancel finds a booking this service never heard about.
 */
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createMemoryPlatform, createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { startService } from "../../lib/runtime/service-host.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import { type Carrier, type CarrierBooking, SimulatedCarrier } from "./carrier.js";
import { RedisCarrierLedger } from "./carrier-redis-ledger.js";
import { createShippingService, type ShippingServiceOptions } from "./service.js";

type Seen = { event: string; payload: Record<string, unknown> };

async function observe(platform: Platform) {
  const seen: Seen[] = [];
  const group = `observer-${randomUUID()}`;
  const observer = new Subscriber({ events: AllEvents, transport: platform.transport, group, consumer: "t" });
  for (const event of [
    "shipping.shipment.prepared",
    "shipping.shipment.failed",
    "shipping.shipment.cancelled",
    "shipping.shipment.cancel.skipped",
  ] as const) {
    observer.on(event, (payload) => {
      seen.push({ event, payload: payload as Record<string, unknown> });
    });
  }
  await platform.transport.ensureGroups(group, observer.topics());
  await observer.start();
  const of = (event: string, orderId: string) =>
    seen.filter((e) => e.event === event && e.payload.orderId === orderId);
  return { seen, of, stop: () => observer.stop() };
}

/**
 * The simulated carrier, whose retrieve-by-key cannot be reached for its first `unreachable`
 * calls (a carrier API that times out on lookups too): bookings and the ledger are the real ones.
 */
function withUnreachableRetrieve(carrier: SimulatedCarrier, unreachable: number): Carrier {
  let left = unreachable;
  return {
    prepare: (request, signal) => carrier.prepare(request, signal),
    cancel: (key, orderId, signal) => carrier.cancel(key, orderId, signal),
    retrieve: async (key, signal) => {
      if (left-- > 0) throw new Error("carrier lookup unreachable (simulated)");
      return carrier.retrieve(key, signal);
    },
  };
}

const request = (orderId: string, productId: string) => ({
  orderId,
  userId: "u-1",
  items: [{ productId, quantity: 1 }],
});

function carrierSuite(
  name: string,
  makePlatform: () => Promise<Platform>,
  ledgerOf: (p: Platform) => SimulatedCarrier,
) {
  describe(`shipping service, late and lost carrier answers (${name})`, () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    async function setup(
      options: ShippingServiceOptions,
      carrierFor: (c: SimulatedCarrier) => Carrier = (c) => c,
    ) {
      const platform = await makePlatform();
      const simulated = ledgerOf(platform);
      const observer = await observe(platform);
      const running = await startService(
        createShippingService({
          carrierTimeoutMs: 100,
          carrierRetrieveBackoffMs: 20,
          deliveryDelayMs: 60_000,
          ...options,
          carrier: carrierFor(simulated),
        }),
        {
          events: AllEvents,
          platform,
          port: 0,
          logger: createLogger({ service: "shipping", level: "silent" }),
        },
      );
      cleanup = async () => {
        await observer.stop();
        await running.stop();
        await platform.close();
      };
      const saga = new Publisher({
        events: AllEvents,
        transport: platform.transport,
        source: { service: "order", instance: "test" },
      });
      const shipment = async (orderId: string) => {
        const response = await fetch(`${running.url}/shipments/${orderId}`);
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      const bookings = async (orderId: string): Promise<CarrierBooking[]> =>
        (await simulated.ledger.list()).filter((b) => b.orderId === orderId);
      return { platform, saga, shipment, bookings, ...observer };
    }

    it("a booking answered after the timeout (lateship-) is learned by key: one shipment, prepared once", async () => {
      const t = await setup({});
      await t.saga.publish("shipping.shipment.requested", request("late-1", "lateship-crate"));
      await t.saga.publish("shipping.shipment.requested", request("late-1", "lateship-crate"));
      await waitFor(() => t.of("shipping.shipment.prepared", "late-1").length === 1, 20_000);
      const booked = await t.bookings("late-1");
      expect(booked).toHaveLength(1);
      expect(booked[0]).toMatchObject({ status: "booked" });
      expect(t.of("shipping.shipment.prepared", "late-1")[0]?.payload.shipmentId).toBe(booked[0]?.shipmentId);
      expect((await t.shipment("late-1")).body).toMatchObject({
        status: "prepared",
        shipmentId: booked[0]?.shipmentId,
      });
      await sleep(300);
      expect(t.of("shipping.shipment.prepared", "late-1")).toHaveLength(1);
      expect(await t.platform.deadLetters.list()).toEqual([]);
    });

    it("a retry of a booking whose answer was lost (and could not be looked up) does not book twice", async () => {
      // First delivery: the answer is late and all three lookups fail, so the request is retried;
      // the retry books again with the same key (a replay) and learns the one booking.
      const t = await setup({}, (c) => withUnreachableRetrieve(c, 3));
      await t.saga.publish("shipping.shipment.requested", request("lost-1", "lateship-crate"));
      await waitFor(() => t.of("shipping.shipment.prepared", "lost-1").length === 1, 20_000);
      const booked = await t.bookings("lost-1");
      expect(booked).toHaveLength(1);
      expect(t.of("shipping.shipment.prepared", "lost-1")[0]?.payload.shipmentId).toBe(booked[0]?.shipmentId);
      expect(await t.platform.deadLetters.list()).toEqual([]);
    });

    it("a cancel of a late booking this service never recorded finds it at the carrier and cancels it", async () => {
      // The carrier books; its answer is late and lookups keep failing, so nothing is recorded here
      // (the request ends in the DLQ): the saga's deadline then sends the cancel.
      const t = await setup({}, (c) => withUnreachableRetrieve(c, 1_000));
      await t.saga.publish("shipping.shipment.requested", request("orphan-1", "lateship-crate"));
      await waitFor(async () => (await t.platform.deadLetters.list()).length === 1, 30_000);
      expect((await t.shipment("orphan-1")).status).toBe(404);
      const [booking] = await t.bookings("orphan-1");
      expect(booking).toMatchObject({ status: "booked" });
      await t.saga.publish("order.compensation.shipment.cancel", {
        orderId: "orphan-1",
        reason: "timed out",
      });
      await waitFor(() => t.of("shipping.shipment.cancelled", "orphan-1").length === 1, 20_000);
      expect(t.of("shipping.shipment.cancelled", "orphan-1")[0]?.payload.shipmentId).toBe(
        booking?.shipmentId,
      );
      expect(t.of("shipping.shipment.cancel.skipped", "orphan-1")).toEqual([]);
      expect(await t.bookings("orphan-1")).toMatchObject([{ status: "cancelled" }]);
      expect((await t.shipment("orphan-1")).body).toMatchObject({
        status: "cancelled",
        shipmentId: booking?.shipmentId,
      });
      // A redelivered request for the order is now a no-op: no second booking, no prepared.
      await t.saga.publish("shipping.shipment.requested", request("orphan-1", "lateship-crate"));
      await sleep(300);
      expect(t.of("shipping.shipment.prepared", "orphan-1")).toEqual([]);
      expect(await t.bookings("orphan-1")).toHaveLength(1);
    });

    it("a cancel that comes before the booking leaves a tombstone at the carrier: the late request books nothing", async () => {
      const t = await setup({});
      await t.saga.publish("order.compensation.shipment.cancel", { orderId: "first-1", reason: "timed out" });
      await waitFor(() => t.of("shipping.shipment.cancel.skipped", "first-1").length === 1, 20_000);
      expect(await t.bookings("first-1")).toMatchObject([{ status: "voided" }]);
      await t.saga.publish("shipping.shipment.requested", request("first-1", "p-1"));
      await sleep(300);
      expect(t.of("shipping.shipment.prepared", "first-1")).toEqual([]);
      expect((await t.bookings("first-1")).filter((b) => b.status === "booked")).toEqual([]);
    });
  });
}

const carriers = new WeakMap<Platform, SimulatedCarrier>();
/** One simulated carrier per platform, on the platform's Redis when it has one (like the service's). */
const carrierOf =
  (lateAnswerMs = 2_000) =>
  (platform: Platform): SimulatedCarrier => {
    let carrier = carriers.get(platform);
    if (!carrier) {
      carrier = new SimulatedCarrier({
        lateAnswerMs,
        ...(platform.redis ? { ledger: new RedisCarrierLedger(platform.redis) } : {}),
      });
      carriers.set(platform, carrier);
    }
    return carrier;
  };

carrierSuite("memory platform", async () => createMemoryPlatform(), carrierOf());

describeWithRedis("shipping service on Redis", (getRedis) => {
  carrierSuite(
    "Redis platform",
    async () => {
      const platform = createRedisPlatform({ url: getRedis().url });
      await platform.redis?.flushall();
      return platform;
    },
    carrierOf(),
  );
});
