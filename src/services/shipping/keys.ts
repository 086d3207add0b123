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
