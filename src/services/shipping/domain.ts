/**
 * The shipping rules as pure functions: what a request, a cancellation or a due delivery should do
 * given the order's shipment record, and the records that result. Times come in as arguments.
 */
import type { CompensationSkipOutcome, ShippingShipmentRequested } from "../../contracts/index.js";

/**
 * `voided` is the tombstone of a cancellation that arrived before the shipment was prepared: a late
 * request for the order becomes a no-op. `rejected`: the carrier refused it (permanent).
 */
export type ShipmentStatus = "prepared" | "rejected" | "cancelled" | "delivered" | "voided";

export interface ShipmentRecord {
  orderId: string;
  status: ShipmentStatus;
  userId?: string;
  items?: { productId: string; quantity: number }[];
  shipmentId?: string;
  trackingNumber?: string;
  carrier?: string;
  reason?: string;
  /** Correlation id of the saga, carried onto the scheduled `shipping.shipment.delivered`. */
  correlationId?: string;
  /** When delivery is due (ISO); set once the order completed, only while prepared. */
  deliverAt?: string;
  /**
   * W3C traceparent of the `order.completed` handling that scheduled the delivery: the delivery
   * (a timer, hours later perhaps) continues the order's trace from it.
   */
  traceparent?: string;
  deliveredAt?: string;
  createdAt: string;
  updatedAt: string;
}

export type PrepareDecision = { action: "prepare" } | { action: "skip"; why: string };

/** One shipment per order: any record (even a tombstone) makes a request a no-op. */
export const decidePrepare = (record: ShipmentRecord | undefined): PrepareDecision =>
  record ? { action: "skip", why: `shipment already ${record.status}` } : { action: "prepare" };

export type CancelDecision =
  | { action: "void" }
  | { action: "cancel"; record: ShipmentRecord }
  | { action: "skip"; why: string; outcome: CompensationSkipOutcome };

const SKIP_OUTCOME: Record<Exclude<ShipmentStatus, "prepared">, CompensationSkipOutcome> = {
  cancelled: "already_done",
  rejected: "nothing_to_undo",
  voided: "nothing_to_undo",
  // Past the point of no return: a refusal the saga must handle (it cannot happen while delivery
  // waits for `order.completed`, which a failed or cancelled saga never emits).
  delivered: "too_late",
};

export function decideCancel(record: ShipmentRecord | undefined): CancelDecision {
  if (!record) return { action: "void" };
  if (record.status === "prepared") return { action: "cancel", record };
  const outcome = SKIP_OUTCOME[record.status];
  return { action: "skip", why: `shipment ${record.status}: nothing to cancel`, outcome };
}

/**
 * Delivery starts only when the saga completed the order (`order.completed`, its pivot): a shipment
 * of an order that failed or was cancelled is never delivered, whatever the interleaving.
 */
export type ScheduleDecision =
  { action: "schedule"; record: ShipmentRecord } | { action: "skip"; why: string };

export function decideSchedule(record: ShipmentRecord | undefined): ScheduleDecision {
  if (record?.status !== "prepared")
    return { action: "skip", why: `shipment ${record?.status ?? "unknown"}` };
  if (record.deliverAt) return { action: "skip", why: "delivery already scheduled" };
  return { action: "schedule", record };
}

export const scheduledRecord = (
  record: ShipmentRecord,
  now: number,
  deliveryDelayMs: number,
  traceparent?: string,
): ShipmentRecord => ({
  ...record,
  deliverAt: new Date(now + deliveryDelayMs).toISOString(),
  ...(traceparent ? { traceparent } : {}),
  updatedAt: new Date(now).toISOString(),
});

/** Only a prepared shipment is ever delivered (never a cancelled or rejected one). */
export const isDeliverable = (record: ShipmentRecord | undefined): record is ShipmentRecord =>
  record?.status === "prepared" && record.shipmentId !== undefined;

/** Prepared, not yet scheduled for delivery (that waits for the saga's `order.completed`). */
export function preparedRecord(
  request: ShippingShipmentRequested,
  shipment: { shipmentId: string; trackingNumber: string; carrier: string },
  correlationId: string,
  now: number,
): ShipmentRecord {
  const at = new Date(now).toISOString();
  return {
    orderId: request.orderId,
    status: "prepared",
    userId: request.userId,
    items: request.items.map((l) => ({ productId: l.productId, quantity: l.quantity })),
    ...shipment,
    correlationId,
    createdAt: at,
    updatedAt: at,
  };
}

export const rejectedRecord = (
  request: ShippingShipmentRequested,
  reason: string,
  at: string,
): ShipmentRecord => ({
  orderId: request.orderId,
  status: "rejected",
  userId: request.userId,
  items: request.items.map((l) => ({ productId: l.productId, quantity: l.quantity })),
  reason,
  createdAt: at,
  updatedAt: at,
});

/**
 * The reason of the records the orphan-booking pass writes (orphan-bookings.ts): the carrier held a
 * booking under the order's key with no shipment record past the grace (its order lost with Redis's
 * last writes), so it was cancelled by key. First the `voided` tombstone with it, then the
 * `cancelled` record once the carrier cancelled.
 */
export const ORPHAN_BOOKING_REASON =
  "orphan booking: no shipment record past the grace period (order lost with Redis's last writes)";

export const voidedRecord = (orderId: string, reason: string, at: string): ShipmentRecord => ({
  orderId,
  status: "voided",
  reason,
  createdAt: at,
  updatedAt: at,
});

export function cancelledRecord(record: ShipmentRecord, reason: string, at: string): ShipmentRecord {
  const { deliverAt: _dropped, ...rest } = record;
  return { ...rest, status: "cancelled", reason, updatedAt: at };
}

/**
 * The record of a booking found (and cancelled) at the carrier by key when nothing was recorded
 * here: its answer was lost or late, and the saga compensated before it arrived.
 */
export const cancelledBookingRecord = (
  booking: {
    orderId: string;
    shipmentId?: string;
    trackingNumber?: string;
    carrier: string;
    createdAt: string;
  },
  reason: string,
  at: string,
): ShipmentRecord => ({
  orderId: booking.orderId,
  status: "cancelled",
  ...(booking.shipmentId === undefined ? {} : { shipmentId: booking.shipmentId }),
  ...(booking.trackingNumber === undefined ? {} : { trackingNumber: booking.trackingNumber }),
  carrier: booking.carrier,
  reason,
  createdAt: booking.createdAt,
  updatedAt: at,
});

export function deliveredRecord(record: ShipmentRecord, at: string): ShipmentRecord {
  const { deliverAt: _dropped, ...rest } = record;
  return { ...rest, status: "delivered", deliveredAt: at, updatedAt: at };
}
