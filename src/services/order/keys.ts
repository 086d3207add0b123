/**
 * Every name the order service gives to stored things. All Redis keys share the hash tag
 * `{order}`, which is also the slot of the order service's bus streams (`{order}:ev:<event>`), so
 * an append and its outbox, and the deadline index and its checkpoint, are each one legal script
 * on a cluster.
 */
/** Hash tag of the event store, the read models and the order service's event streams. */
export const ORDER_TAG = "order";

const STREAM_PREFIX = "order-";

/** Event store stream of one order. */
export const orderStreamId = (orderId: string): string => `${STREAM_PREFIX}${orderId}`;

/** The order id of a stream, or undefined for a stream that is not an order. */
export const orderIdOfStream = (streamId: string): string | undefined =>
  streamId.startsWith(STREAM_PREFIX) ? streamId.slice(STREAM_PREFIX.length) : undefined;

/** Deadline index (sorted set: order id scored by deadline ms). */
export const deadlineIndexKey = (tag: string, name: string): string => `{${tag}}:${name}:due`;

/** Deadline index: the position of the last event applied per order (hash). */
export const deadlinePositionsKey = (tag: string, name: string): string => `{${tag}}:${name}:pos`;

/** Deadline index: the projection checkpoint (string). */
export const deadlineCheckpointKey = (tag: string, name: string): string => `{${tag}}:${name}:checkpoint`;

/**
 * A projection of the order service (deadline index, list index): its rebuild marker (string, the
 * id of a rebuild not yet replayed to the end of the log).
 */
export const rebuildMarkerKeyOf = (tag: string, name: string): string => `{${tag}}:${name}:rebuilding`;

/**
 * Shred intents (sorted set: order id scored by the time its saga ended, ms): written by the append
 * that ends the saga, removed once the order's token key was deleted (src/services/order/shred-sweeper.ts).
 */
export const shredIntentsKey = (): string => `{${ORDER_TAG}}:shred:due`;

/**
 * The AOF rewrite throttle the order instances share after shredding (string: a claim, then the
 * Redis `TIME` in µs before the request, then whether that rewrite completed; TTL the rewrite
 * interval, refreshed while its holder waits; src/lib/security/aof-compactor.ts).
 */
export const aofRewriteThrottleKey = (): string => `{${ORDER_TAG}}:aof-rewrite`;

/**
 * Marker (string, TTL the platform's marker lifetime) that the compensation of one effect done for a
 * lost order (a reply for an order with no history) was published: `{order}:lost:<orderId>:<compensation>`.
 * Written with the command in one script, so a redelivered reply publishes it once.
 */
export const lostReplyKey = (orderId: string, compensation: string): string =>
  `{${ORDER_TAG}}:lost:${orderId}:${compensation}`;
