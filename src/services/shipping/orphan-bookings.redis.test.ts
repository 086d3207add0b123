/**
 * The orphan-booking reconciler over real Redis (break28 F2): a booking the carrier holds under an
 * order's key with no shipment record (the order, its record and its reply lost with Redis's last
 * writes) is cancelled by key once older than the grace, exactly once across instances; a booking
 * whose record exists, or younger than the grace, is kept; a handler stalled past the grace then
 * finds the pass's tombstone and publishes no `shipping.shipment.prepared`. Time is the test's clock
 * (the carrier dates its bookings on it): no sleeps.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { AllEvents, type ShippingShipmentRequested } from "../../contracts/index.js";
import { silentLogger } from "../../lib/bus/context.js";
import type { Envelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type Carrier, carrierKeyFor, SimulatedCarrier } from "./carrier.js";
import { RedisCarrierLedger } from "./carrier-redis-ledger.js";
import { ORPHAN_BOOKING_REASON, preparedRecord } from "./domain.js";
import { createShippingHandlers, type HandlerContext } from "./handlers.js";
import {
  OrphanBookingReconciler,
  type OrphanBookingReconcilerOptions,
  RedisOrphanBookingScanCursor,
} from "./orphan-bookings.js";
import { RedisShippingStore } from "./redis-store.js";

const GRACE_MS = 10 * 60_000;

describeWithRedis("orphan bookings: cancelled by key past the grace period, the record first", (getRedis) => {
  let platform: Platform;
  let clock = Date.now();
  const now = () => clock;

  beforeAll(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
  });
  afterAll(() => platform?.close());

  /**
   * One shipping instance: its store, the carrier (ledger in Redis), handlers and orphan reconciler
   * (cursor in Redis, shared); `hold` stalls it once the carrier booked, before the record.
   */
  function instance(hold?: Promise<void>, options: Partial<OrphanBookingReconcilerOptions> = {}) {
    const redis = platform.redis!;
    const store = new RedisShippingStore(redis);
    const ledger = new RedisCarrierLedger(redis);
    const carrier = new SimulatedCarrier({ ledger, now });
    const stalling: Carrier = {
      prepare: async (request, signal) => {
        const outcome = await carrier.prepare(request, signal);
        await hold;
        return outcome;
      },
      retrieve: (key, signal) => carrier.retrieve(key, signal),
      cancel: (key, orderId, signal) => carrier.cancel(key, orderId, signal),
      list: (page, signal) => carrier.list(page, signal),
    };
    const handlers = createShippingHandlers({
      store,
      carrier: stalling,
      now,
      carrierTimeoutMs: 5_000,
      carrierRetrieveTries: 1,
      carrierRetrieveBackoffMs: 1,
      deliveryDelayMs: 60_000,
    });
    const cancelled: string[] = [];
    const reconciler = new OrphanBookingReconciler({
      carrier,
      store,
      cancelOrphanBooking: handlers.cancelOrphanBooking,
      now,
      graceMs: GRACE_MS,
      cursor: new RedisOrphanBookingScanCursor(redis),
      onCancelled: (booking) => cancelled.push(booking.orderId),
      ...options,
    });
    return { store, ledger, carrier, handlers, reconciler, cancelled };
  }

  const requestOf = (orderId: string): ShippingShipmentRequested => ({
    orderId,
    userId: "u-1",
    items: [{ productId: "p-1", quantity: 1 }],
  });

  /** A booking at the carrier under the order's key, and nothing else: the order was lost. */
  async function lostOrder(parts: ReturnType<typeof instance>): Promise<string> {
    const orderId = randomUUID();
    const outcome = await parts.carrier.prepare({
      idempotencyKey: carrierKeyFor(orderId),
      ...requestOf(orderId),
    });
    expect(outcome.accepted).toBe(true);
    return orderId;
  }

  const publisher = () =>
    new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "shipping", instance: "orphan-test" },
    });
  const ctxOf = (p: Publisher<typeof AllEvents>, orderId: string): HandlerContext => ({
    prepare: (event, payload, options) => p.prepare(event, payload, options),
    publish: (event, payload, options) => p.publish(event, payload, options),
    logger: silentLogger,
    envelope: { correlationId: orderId } as Envelope,
  });
  const entriesAbout = async (event: string, orderId: string) =>
    (await platform.redis!.xrange(eventStreamKey("shipping", event), "-", "+")).filter(([, fields]) =>
      fields.some((f) => f.includes(orderId)),
    ).length;

  it("a booking with no shipment record is cancelled once past the grace by two instances' passes, not before", async () => {
    const first = instance();
    const second = instance();
    const orderId = await lostOrder(first);

    // Younger than the grace: kept.
    expect(await first.reconciler.pass()).toMatchObject({ cancelled: 0 });
    expect(await first.ledger.get(carrierKeyFor(orderId))).toMatchObject({ status: "booked" });
    expect(await first.store.get(orderId)).toBeUndefined();

    clock += GRACE_MS + 60_000;
    const [a, b] = await Promise.all([first.reconciler.pass(), second.reconciler.pass()]);
    expect(a.cancelled + b.cancelled).toBe(1);
    expect([...first.cancelled, ...second.cancelled]).toEqual([orderId]);
    const booking = await first.ledger.get(carrierKeyFor(orderId));
    expect(booking).toMatchObject({ status: "cancelled" });
    expect(await first.store.get(orderId)).toMatchObject({
      status: "cancelled",
      reason: ORPHAN_BOOKING_REASON,
      shipmentId: booking?.shipmentId,
    });

    // Later passes change nothing and count nothing.
    clock += 60_000;
    const later = await Promise.all([first.reconciler.pass(), second.reconciler.pass()]);
    expect(later.map((p) => p.cancelled)).toEqual([0, 0]);
    expect([...first.cancelled, ...second.cancelled]).toEqual([orderId]);
  }, 60_000);

  it("a booking whose shipment record exists is kept; one younger than the grace is kept", async () => {
    await getRedis().flush();
    const parts = instance();
    // A live order: its booking and its prepared record.
    const liveId = await lostOrder(parts);
    const booking = (await parts.ledger.get(carrierKeyFor(liveId)))!;
    const record = preparedRecord(
      requestOf(liveId),
      { shipmentId: booking.shipmentId!, trackingNumber: booking.trackingNumber!, carrier: booking.carrier },
      liveId,
      clock,
    );
    expect(await parts.store.commit(record, null, [])).toBe(true);
    clock += GRACE_MS + 60_000;
    // A lost order's booking made just now: younger than the grace.
    const youngId = await lostOrder(parts);

    const pass = await parts.reconciler.pass();
    expect(pass).toMatchObject({ cancelled: 0, caughtUp: true });
    expect(pass.checked).toBeGreaterThanOrEqual(1);
    expect(await parts.ledger.get(carrierKeyFor(liveId))).toMatchObject({ status: "booked" });
    expect(await parts.store.get(liveId)).toMatchObject({ status: "prepared" });
    expect(await parts.ledger.get(carrierKeyFor(youngId))).toMatchObject({ status: "booked" });
    expect(await parts.store.get(youngId)).toBeUndefined();

    // Once old enough, the young one (no record) is cancelled; the live one still kept.
    clock += GRACE_MS + 60_000;
    expect(await parts.reconciler.pass()).toMatchObject({ cancelled: 1 });
    expect(await parts.ledger.get(carrierKeyFor(youngId))).toMatchObject({ status: "cancelled" });
    expect(await parts.ledger.get(carrierKeyFor(liveId))).toMatchObject({ status: "booked" });
  }, 60_000);

  it("a handler stalled past the grace after its booking finds the pass's tombstone and publishes no shipping.shipment.prepared", async () => {
    await getRedis().flush();
    let release!: () => void;
    const stalled = instance(new Promise<void>((r) => (release = r)));
    const other = instance();
    const orderId = randomUUID();
    const handling = stalled.handlers.shipmentRequested(requestOf(orderId), ctxOf(publisher(), orderId));
    await waitFor(
      async () => (await stalled.ledger.get(carrierKeyFor(orderId)))?.status === "booked",
      10_000,
      "the booking at the carrier",
    );
    clock += GRACE_MS + 60_000;
    expect(await other.reconciler.pass()).toMatchObject({ cancelled: 1 });
    release();
    await handling;
    expect(await entriesAbout("shipping.shipment.prepared", orderId)).toBe(0);
    expect(await other.store.get(orderId)).toMatchObject({
      status: "cancelled",
      reason: ORPHAN_BOOKING_REASON,
    });
    expect(await other.ledger.get(carrierKeyFor(orderId))).toMatchObject({ status: "cancelled" });
  }, 60_000);

  it("a cancel the carrier refused after the tombstone is counted once and finished by a later pass", async () => {
    await getRedis().flush();
    const parts = instance();
    const orderId = await lostOrder(parts);
    clock += GRACE_MS + 60_000;
    // The carrier answers "in progress" for the key (a call with it in flight) once the tombstone is
    // written: the pass stops there.
    let busy = true;
    const finished: string[] = [];
    const reconciler = instance(undefined, {
      cancelOrphanBooking: (id, onTombstone) =>
        parts.handlers.cancelOrphanBooking(id, () => {
          onTombstone?.();
          if (busy) void parts.ledger.beginCall(carrierKeyFor(id), 60_000);
        }),
      onCancelled: (booking) => parts.cancelled.push(booking.orderId),
      onFinished: (booking) => finished.push(booking.orderId),
    }).reconciler;
    const first = await reconciler.pass();
    expect(first.stoppedBy).toBeDefined();
    expect(await parts.store.get(orderId)).toMatchObject({ status: "voided", reason: ORPHAN_BOOKING_REASON });
    expect(await parts.ledger.get(carrierKeyFor(orderId))).toMatchObject({ status: "booked" });

    busy = false;
    await parts.ledger.endCall(carrierKeyFor(orderId));
    clock += 60_000;
    expect((await reconciler.pass()).stoppedBy).toBeUndefined();
    expect(await parts.ledger.get(carrierKeyFor(orderId))).toMatchObject({ status: "cancelled" });
    expect(await parts.store.get(orderId)).toMatchObject({
      status: "cancelled",
      reason: ORPHAN_BOOKING_REASON,
    });
    expect(parts.cancelled).toEqual([orderId]);
    expect(finished).toEqual([orderId]);
  }, 60_000);
});
