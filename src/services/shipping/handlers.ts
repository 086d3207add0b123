/**
 * Event handlers: load the order's shipment, decide (domain), ask the carrier, then save the
 * shipment, its delivery schedule and its events in one atomic store write.
 */
import type {
  AllEvents,
  OrderCompensationShipmentCancel,
  OrderCompleted,
  ShippingShipmentRequested,
} from "../../contracts/index.js";
import type { MessageContext } from "../../lib/bus/context.js";
import { BusError } from "../../lib/bus/errors.js";
import { activeTraceparent, providerSpan } from "../../lib/observability/spans.js";
import { TimeoutError, withTimeout } from "../../lib/resilience/index.js";
import {
  type Carrier,
  type CarrierBooking,
  carrierKeyFor,
  type CarrierOutcome,
  carrierOutcomeOf,
} from "./carrier.js";
import {
  cancelledBookingRecord,
  cancelledRecord,
  decideCancel,
  decidePrepare,
  ORPHAN_BOOKING_REASON,
  preparedRecord,
  rejectedRecord,
  voidedRecord,
} from "./domain.js";
import type { ShippingStore } from "./store.js";

export type HandlerContext = Pick<
  MessageContext<unknown, typeof AllEvents>,
  "prepare" | "publish" | "logger" | "envelope"
>;

export interface ShippingHandlerDeps {
  store: ShippingStore;
  carrier: Carrier;
  now: () => number;
  /** How long one carrier call (booking, retrieve, cancel) may take, ms. */
  carrierTimeoutMs: number;
  /** Retrieve-by-key tries after a lost or late booking answer (default 3). */
  carrierRetrieveTries?: number;
  /** Pause before the first retrieve, doubled after each try, ms (default 200). */
  carrierRetrieveBackoffMs?: number;
  deliveryDelayMs: number;
}

const MAX_ROUNDS = 3;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createShippingHandlers(deps: ShippingHandlerDeps) {
  const { store } = deps;
  const at = () => new Date(deps.now()).toISOString();

  const retrieveTries = deps.carrierRetrieveTries ?? 3;
  const retrieveBackoffMs = deps.carrierRetrieveBackoffMs ?? 200;
  const timed = <T>(work: (signal: AbortSignal) => Promise<T>) => withTimeout(work, deps.carrierTimeoutMs);

  const unknown = (orderId: string, cause: unknown) =>
    new BusError("CARRIER_OUTCOME_UNKNOWN", `outcome of the carrier booking of order ${orderId} unknown`, {
      retryable: true,
      waits: true,
      cause,
    });

  /**
   * Asks the carrier what the order's booking key did, with backoff (`carrierRetrieveBackoffMs`,
   * doubled per try), while it cannot be asked or answers "in progress". Throws a retryable
   * `CARRIER_OUTCOME_UNKNOWN` when it still cannot tell: the redelivered request books again with
   * the same key, which replays the first booking or makes it for the first time. Unknown is not
   * failed: the error `waits` (lib/bus/errors.ts), so the request keeps asking inside the
   * must-complete window until the carrier answers or the saga's cancel by key settles the order
   * (break12 F3), while its other errors keep the default 3 attempts (service.ts).
   */
  async function retrieve(orderId: string, first: unknown): Promise<CarrierBooking | undefined> {
    let last = first;
    for (let attempt = 0; attempt < retrieveTries; attempt++) {
      await sleep(retrieveBackoffMs * 2 ** attempt);
      try {
        return await timed((signal) => deps.carrier.retrieve(carrierKeyFor(orderId), signal));
      } catch (error) {
        last = error;
      }
    }
    throw unknown(orderId, last);
  }

  /**
   * The carrier's answer for the order's booking, or undefined when the call timed out and the
   * carrier confirms nothing was booked under its key (a call lost in flight: no reply, the saga's
   * deadline compensates). A late or lost answer is never a guess: the carrier is asked by key.
   */
  async function askCarrier(request: ShippingShipmentRequested): Promise<CarrierOutcome | undefined> {
    const { orderId } = request;
    const idempotencyKey = carrierKeyFor(orderId);
    try {
      return await providerSpan("carrier", "prepare", { "ordersaga.order_id": orderId }, () =>
        timed((signal) => deps.carrier.prepare({ idempotencyKey, orderId, items: request.items }, signal)),
      );
    } catch (error) {
      const booking = await retrieve(orderId, error);
      if (booking) return carrierOutcomeOf(booking);
      if (error instanceof TimeoutError) return undefined;
      throw new BusError("CARRIER_UNAVAILABLE", `carrier call for order ${orderId} failed`, {
        retryable: true,
        waits: true,
        cause: error,
      });
    }
  }

  /** Cancels the order's booking at the carrier by key (idempotent); what the carrier now holds. */
  async function cancelAtCarrier(orderId: string): Promise<CarrierBooking> {
    try {
      return await providerSpan("carrier", "cancel", { "ordersaga.order_id": orderId }, () =>
        timed((signal) => deps.carrier.cancel(carrierKeyFor(orderId), orderId, signal)),
      );
    } catch (error) {
      // In progress, unreachable or late: a must-complete compensation, retried until it is known.
      throw new BusError("CARRIER_UNAVAILABLE", `carrier cancel for order ${orderId} failed`, {
        retryable: true,
        waits: true,
        cause: error,
      });
    }
  }

  async function shipmentRequested(request: ShippingShipmentRequested, ctx: HandlerContext): Promise<void> {
    const decision = decidePrepare(await store.get(request.orderId));
    if (decision.action === "skip") {
      ctx.logger.debug({ orderId: request.orderId, why: decision.why }, "shipment request ignored");
      return;
    }
    const outcome = await askCarrier(request);
    if (!outcome) {
      // Like a carrier call lost in flight: no reply; the saga's deadline compensates.
      ctx.logger.warn({ orderId: request.orderId }, "carrier did not answer in time: no reply sent");
      return;
    }
    if (!outcome.accepted) {
      const message = ctx.prepare("shipping.shipment.failed", {
        orderId: request.orderId,
        reason: outcome.reason,
        transient: false,
      }).message;
      await store.commit(rejectedRecord(request, outcome.reason, at()), null, [message]);
      return;
    }
    const { shipmentId, trackingNumber, carrier } = outcome;
    const record = preparedRecord(
      request,
      { shipmentId, trackingNumber, carrier },
      ctx.envelope.correlationId,
      deps.now(),
    );
    const message = ctx.prepare("shipping.shipment.prepared", {
      orderId: request.orderId,
      shipmentId,
      trackingNumber,
      carrier,
    }).message;
    if (!(await store.commit(record, null, [message]))) {
      ctx.logger.info({ orderId: request.orderId }, "late shipment ignored: order already settled");
    }
  }

  async function cancelRound(
    command: OrderCompensationShipmentCancel,
    ctx: HandlerContext,
  ): Promise<boolean> {
    const decision = decideCancel(await store.get(command.orderId));
    if (decision.action === "skip") {
      // Answered every time (also on a redelivery): the saga tracks the compensation until a reply.
      ctx.logger.debug({ orderId: command.orderId, why: decision.why }, "cancel skipped");
      await ctx.publish("shipping.shipment.cancel.skipped", {
        orderId: command.orderId,
        outcome: decision.outcome,
        reason: decision.why,
      });
      return true;
    }
    if (decision.action === "void") {
      // Nothing recorded here, but a booking whose answer was lost or late may exist at the carrier:
      // cancel it by key (which also refuses a booking with the key arriving later).
      const booking = await cancelAtCarrier(command.orderId);
      if (booking.status === "cancelled" && booking.shipmentId) {
        const found = ctx.prepare("shipping.shipment.cancelled", {
          orderId: command.orderId,
          shipmentId: booking.shipmentId,
        }).message;
        return store.commit(cancelledBookingRecord(booking, command.reason, at()), null, [found]);
      }
      const skipped = ctx.prepare("shipping.shipment.cancel.skipped", {
        orderId: command.orderId,
        outcome: "nothing_to_undo",
        reason: "nothing was prepared: a late request will be ignored",
      }).message;
      return store.commit(voidedRecord(command.orderId, command.reason, at()), null, [skipped]);
    }
    await cancelAtCarrier(command.orderId);
    const cancelled = cancelledRecord(decision.record, command.reason, at());
    const message = ctx.prepare("shipping.shipment.cancelled", {
      orderId: command.orderId,
      shipmentId: cancelled.shipmentId ?? "",
    }).message;
    return store.commit(cancelled, "prepared", [message], true);
  }

  async function cancelRequested(
    command: OrderCompensationShipmentCancel,
    ctx: HandlerContext,
  ): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (await cancelRound(command, ctx)) return;
    }
    throw new BusError("SHIPMENT_CONTENDED", `shipment of order ${command.orderId} kept changing`, {
      retryable: true,
    });
  }

  /**
   * The saga passed its pivot: the prepared shipment goes out for delivery. One store call that
   * decides on the stored record itself (no read first, no race with another write).
   */
  async function orderCompleted(event: OrderCompleted, ctx: HandlerContext): Promise<void> {
    // The delivery continues this trace: from this handling's span, or (tracing off) the envelope's.
    const traceparent = activeTraceparent().traceparent ?? ctx.envelope.traceparent;
    const outcome = await store.scheduleDelivery(
      event.orderId,
      deps.now(),
      deps.deliveryDelayMs,
      traceparent,
    );
    if (!outcome.scheduled)
      ctx.logger.debug({ orderId: event.orderId, why: outcome.why }, "delivery not scheduled");
  }

  /**
   * The orphan-booking pass's cancel (orphan-bookings.ts) of a booking the carrier holds under the
   * order's key with no shipment record past the grace. The `voided` record first, a compare-and-set
   * on "no record": a handler that writes its record before it wins (nothing is cancelled), and one
   * that writes after finds the tombstone and publishes nothing (`late shipment ignored`): the grace
   * outlasts the saga's step deadline, so that order is failed and compensated anyway, and its
   * compensation meets the tombstone. `onTombstone` runs once the tombstone is written (one writer
   * wins: the count of orphans). Then the carrier's cancel by key (idempotent), then the record
   * `cancelled` with the booking's shipment and tracking number. Resolves `cancelled` when this call
   * wrote the tombstone, `finished` when it completed an earlier call's cancel (one stopped after its
   * tombstone), `settled` when another record exists (nothing done). Throws a retryable
   * `CARRIER_UNAVAILABLE` when the carrier cannot cancel now: the tombstone stays and a later pass
   * finishes the cancel.
   */
  async function cancelOrphanBooking(
    orderId: string,
    onTombstone?: () => void,
  ): Promise<"cancelled" | "finished" | "settled"> {
    let result: "cancelled" | "finished";
    if (await store.commit(voidedRecord(orderId, ORPHAN_BOOKING_REASON, at()), null, [])) {
      onTombstone?.();
      result = "cancelled";
    } else {
      const record = await store.get(orderId);
      if (record?.status !== "voided" || record.reason !== ORPHAN_BOOKING_REASON) return "settled";
      result = "finished";
    }
    const booking = await cancelAtCarrier(orderId);
    if (booking.status === "cancelled")
      await store.commit(cancelledBookingRecord(booking, ORPHAN_BOOKING_REASON, at()), "voided", []);
    return result;
  }

  return { shipmentRequested, cancelRequested, orderCompleted, cancelOrphanBooking };
}

export type ShippingHandlers = ReturnType<typeof createShippingHandlers>;
