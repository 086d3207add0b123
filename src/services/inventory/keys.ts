/**
 * Every Redis key of the inventory service. All share the hash tag `{inventory}` with the streams
 * of the events it owns (`{inventory}:ev:<event>`), so one Lua script may change stock and append
 * the resulting events, also on Redis Cluster.
 */

import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";

export const INVENTORY_OWNER = "inventory";
const TAG = `{${INVENTORY_OWNER}}`;

/** Hash: id, name, price, available, reserved, committed, threshold. */
export const productKey = (productId: string): string => `${TAG}:product:${productId}`;

/** Set of every productId (for listing). */
export const productIndexKey = (): string => `${TAG}:products`;

/** Hash: state, items (JSON priced lines), reason. One per order, kept as the order's dedupe mark. */
export const reservationKey = (orderId: string): string => `${TAG}:reservation:${orderId}`;

/**
 * Stream an outgoing message is appended to. Only the inventory's own events live in its slot;
 * anything else could not be written in the same script on a cluster.
 */
export function outboxStreamKey(message: OutgoingMessage): string {
  if (message.owner !== INVENTORY_OWNER) {
    throw new Error(`inventory cannot emit "${message.topic}" owned by "${message.owner}" atomically`);
  }
  return eventStreamKey(message.owner, message.topic);
}
