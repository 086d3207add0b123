/**
 * Every name the order service gives to stored things. All Redis keys share the hash tag
 * `{order}`, which is also the slot of the order service's bus streams (`{order}:ev:<event>`), so
 * an append and its outbox, and the deadline index and its checkpoint, are each one legal script
 * on a cluster.
 */
import { createHash } from "node:crypto";

/** Hash tag of the event store, the read models and the order service's event streams. */
export const ORDER_TAG = "order";

const STREAM_PREFIX = "order-";

/** Event store stream of one order. */
export const orderStreamId = (orderId: string): string => `${STREAM_PREFIX}${orderId}`;

/** The order id of a stream, or undefined for a stream that is not an order. */
export const orderIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith(STREAM_PREFIX) ? streamId.slice(STREAM_PREFIX.length) : undefined;

/**
 * The order id an Idempotency-Key maps to (UUID-shaped digest). Deriving the id from the key makes
 * "one order per key" the event store's own `no_stream` check: two concurrent requests with one key
 * race for one stream and exactly one append wins, with no separate key record to keep in step.
 */
export function orderIdForIdempotencyKey(key: string): string {
  const hex = createHash("sha256").update(`ordersaga:order:idempotency-key:${key}`).digest("hex");
  // Version nibble 8 (RFC 9562 "custom"), variant 10xx: a well-formed UUID that says it is derived.
  const variant = ((Number.parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Deadline index (sorted set: order id scored by deadline ms). */
export const deadlineIndexKey = (tag: string, name: string): string => `{${tag}}:${name}:due`;

/** Deadline index: the position of the last event applied per order (hash). */
export const deadlinePositionsKey = (tag: string, name: string): string => `{${tag}}:${name}:pos`;

/** Deadline index: the projection checkpoint (string). */
export const deadlineCheckpointKey = (tag: string, name: string): string => `{${tag}}:${name}:checkpoint`;
