/**
 * Every Redis key the shipping service touches, all under the `{shipping}` hash tag shared with the
 * streams of its events (`eventStreamKey("shipping", topic)`), so one Lua script may write a
 * shipment, its delivery schedule and its events atomically, also on Redis Cluster.
 */
export { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";

export const SHIPPING_OWNER = "shipping";
const TAG = "{shipping}";

/** Hash `{status, data}`: the shipment of one order. */
export const shipmentKey = (orderId: string): string => `${TAG}:shipment:${orderId}`;

/** Sorted set of order ids by delivery due time (epoch ms). */
export const dueKey = (): string => `${TAG}:due`;

/**
 * Hash order id → failed delivery tries of a shipment still on the schedule (`dueKey`); each field
 * is written and removed with its schedule entry, in the same script. A field an older release left
 * behind is removed by the poller's sweep (`sweepOrphanCounts`).
 */
export const dueFailuresKey = (): string => `${TAG}:due:failures`;

/**
 * Hash order id → consecutive tries of a scheduled shipment whose record could not be read; at
 * `DEFAULT_PARK_AFTER` the shipment is parked. Written, removed and swept like `dueFailuresKey`.
 */
export const dueUnreadableKey = (): string => `${TAG}:due:unreadable`;

/**
 * Hash order id → JSON `{reason, parkedAt, tries}` (parkedAt ms epoch, tries absent on older ones): shipments taken off the schedule
 * because their record never read. Owned by the operator: each stays until re-queued
 * (`requeueParked`) or deleted by hand; at most one field per order (bounded by the orders).
 */
export const parkedKey = (): string => `${TAG}:parked`;

/**
 * The simulated carrier's ledger (its own store, like a carrier's booking system): hash
 * `{status, data, updatedAt}` of the booking made with one idempotency key.
 */
export const carrierBookingKey = (idempotencyKey: string): string =>
  `${TAG}:carrier:booking:${idempotencyKey}`;

/** Set of the carrier's booking keys (its dashboard; the fault suite's oracle lists it). */
export const carrierIndexKey = (): string => `${TAG}:carrier:bookings`;

/** Marker (lease) that the simulated carrier is processing a booking with this idempotency key. */
export const carrierInFlightKey = (idempotencyKey: string): string =>
  `${TAG}:carrier:inflight:${idempotencyKey}`;

/**
 * Sorted set (score: creation, epoch ms on the shared clock) of the carrier's booking keys: its
 * dashboard's list by creation time, which the orphan-booking pass scans (orphan-bookings.ts).
 */
export const carrierTimeIndexKey = (): string => `${TAG}:carrier:bookings-by-time`;

/**
 * String: where the orphan-booking pass reached, a booking creation time (epoch ms): every booking
 * created before it was examined by a pass (orphan-bookings.ts). Shared by the shipping instances.
 */
export const orphanBookingScanCursorKey = (): string => `${TAG}:orphan-scan:cursor`;

/**
 * String: `<createdAtMs>:<skip>`, how many bookings of the cursor's millisecond the orphan-booking
 * pass examined; counts only while its time is the cursor's (orphan-bookings.ts).
 */
export const orphanBookingScanSkipKey = (): string => `${TAG}:orphan-scan:cursor-skip`;
