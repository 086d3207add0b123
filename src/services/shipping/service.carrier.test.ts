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
import {
  type Carrier,
  CARRIER_NAME,
  type CarrierBooking,
  CarrierError,
  carrierKeyFor,
  SimulatedCarrier,
  trackingNumberFor,
} from "./carrier.js";
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
function withUnreachableRetrieve(
  carrier: SimulatedCarrier,
  unreachable: number,
  onFailed: () => void = () => undefined,
): Carrier {
  let left = unreachable;
  return {
    prepare: (request, signal) => carrier.prepare(request, signal),
    cancel: (key, orderId, signal) => carrier.cancel(key, orderId, signal),
    list: (page, signal) => carrier.list(page, signal),
    retrieve: async (key, signal) => {
      if (left-- > 0) {
        onFailed();
        throw new Error("carrier lookup unreachable (simulated)");
      }
      return carrier.retrieve(key, signal);
    },
  };
}

/** Counts into `counts` the calls the carrier answered "in progress" (`request_in_progress`), by kind. */
function countingInProgress(
  carrier: SimulatedCarrier,
  counts: { retrieve: number; cancel: number },
): Carrier {
  const counted =
    <A extends unknown[], R>(kind: keyof typeof counts, call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await call(...args);
      } catch (error) {
        if (error instanceof CarrierError && error.code === "request_in_progress") counts[kind]++;
        throw error;
      }
    };
  return {
    prepare: (request, signal) => carrier.prepare(request, signal),
    retrieve: counted("retrieve", (key: string, signal?: AbortSignal) => carrier.retrieve(key, signal)),
    cancel: counted("cancel", (key: string, orderId: string, signal?: AbortSignal) =>
      carrier.cancel(key, orderId, signal),
    ),
    list: (page, signal) => carrier.list(page, signal),
  };
}

/** The booking another instance's call makes at the carrier (the simulated carrier's own shape). */
const bookingOf = (orderId: string): CarrierBooking => {
  const at = new Date().toISOString();
  return {
    idempotencyKey: carrierKeyFor(orderId),
    orderId,
    status: "booked",
    shipmentId: `ship-${orderId}`,
    trackingNumber: trackingNumberFor(orderId),
    carrier: CARRIER_NAME,
    createdAt: at,
    updatedAt: at,
  };
};

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
      const deadLetters = () => t.platform.deadLetters.list();
      const t = { platform, saga, shipment, bookings, carrier: simulated, deadLetters, ...observer };
      return t;
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
      // (the request waits, redelivered: the outcome is unknown, break12 F3): the saga's deadline
      // then sends the cancel.
      let failedLookups = 0;
      const t = await setup({}, (c) => withUnreachableRetrieve(c, 1_000, () => failedLookups++));
      await t.saga.publish("shipping.shipment.requested", request("orphan-1", "lateship-crate"));
      await waitFor(() => failedLookups > 3, 30_000, "a redelivered request asks again");
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
      expect(await t.deadLetters()).toEqual([]);
    });

    // break12 F3: a shipping instance killed (or stopped) mid-booking leaves its call in flight at
    // the carrier; the instance that takes over meets "in progress". The outcome is unknown, not a
    // failure (DESIGN §6): the request waits on the must-complete policy, past the 3 attempts the
    // default policy dead-lettered it after, until the carrier answers.
    it("a booking left in flight by a dead instance is waited for past 3 attempts, then learned: prepared, nothing dead-lettered", async () => {
      const inProgress = { retrieve: 0, cancel: 0 };
      const t = await setup({}, (c) => countingInProgress(c, inProgress));
      const key = carrierKeyFor("taken-1");
      // The dead instance's booking call, still in flight at the carrier (its lease outlives the test).
      expect(await t.carrier.ledger.beginCall(key, 300_000)).toBe(true);
      await t.saga.publish("shipping.shipment.requested", request("taken-1", "slowship-crate"));
      // More lookups than 3 deliveries of 3 each (the default policy's budget), or its dead letter.
      await waitFor(
        async () => inProgress.retrieve > 9 || (await t.deadLetters()).length > 0,
        60_000,
        "a fourth delivery (or a dead letter)",
      );
      expect(await t.deadLetters()).toEqual([]);
      // The carrier's call ends: it booked.
      const booking = bookingOf("taken-1");
      await t.carrier.ledger.putIfAbsent(booking);
      await t.carrier.ledger.endCall(key);
      await waitFor(
        async () =>
          t.of("shipping.shipment.prepared", "taken-1").length > 0 || (await t.deadLetters()).length > 0,
        60_000,
        "prepared (or a dead letter)",
      );
      expect(await t.deadLetters()).toEqual([]);
      expect(t.of("shipping.shipment.prepared", "taken-1").map((e) => e.payload.shipmentId)).toEqual([
        booking.shipmentId,
      ]);
      expect((await t.shipment("taken-1")).body).toMatchObject({
        status: "prepared",
        shipmentId: booking.shipmentId,
      });
      expect(await t.bookings("taken-1")).toMatchObject([
        { status: "booked", shipmentId: booking.shipmentId },
      ]);
    });

    it("a booking left in flight past the saga's deadline is cancelled by key once the carrier answers, nothing dead-lettered", async () => {
      const inProgress = { retrieve: 0, cancel: 0 };
      const t = await setup({}, (c) => countingInProgress(c, inProgress));
      const key = carrierKeyFor("taken-2");
      expect(await t.carrier.ledger.beginCall(key, 300_000)).toBe(true);
      await t.saga.publish("shipping.shipment.requested", request("taken-2", "slowship-crate"));
      await waitFor(
        async () => inProgress.retrieve > 9 || (await t.deadLetters()).length > 0,
        60_000,
        "a fourth delivery (or a dead letter)",
      );
      // The step's deadline passes first: the saga cancels by key, and the cancel meets the call too.
      await t.saga.publish("order.compensation.shipment.cancel", { orderId: "taken-2", reason: "timed out" });
      await waitFor(() => inProgress.cancel > 0, 60_000, "the cancel meets the call in flight");
      const booking = bookingOf("taken-2");
      await t.carrier.ledger.putIfAbsent(booking);
      await t.carrier.ledger.endCall(key);
      await waitFor(
        async () =>
          t.of("shipping.shipment.cancelled", "taken-2").length > 0 || (await t.deadLetters()).length > 0,
        60_000,
        "cancelled (or a dead letter)",
      );
      expect(await t.deadLetters()).toEqual([]);
      expect(t.of("shipping.shipment.cancelled", "taken-2").map((e) => e.payload.shipmentId)).toEqual([
        booking.shipmentId,
      ]);
      expect(await t.bookings("taken-2")).toMatchObject([{ status: "cancelled" }]);
      expect((await t.shipment("taken-2")).body).toMatchObject({
        status: "cancelled",
        shipmentId: booking.shipmentId,
      });
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
