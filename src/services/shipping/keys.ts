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
 * is written and removed with its schedule entry, in the same script.
 */
export const dueFailuresKey = (): string => `${TAG}:due:failures`;

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
