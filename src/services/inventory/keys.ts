/**
 * Every Redis key of the inventory service. All share the hash tag `{inventory}` with the streams
 * of the events it owns (`{inventory}:ev:<event>`), so one Lua script may change stock and append
 * the resulting events, also on Redis Cluster.
 */

export const INVENTORY_OWNER = "inventory";
const TAG = `{${INVENTORY_OWNER}}`;

/** Hash: id, name, price, available, reserved, committed, threshold. */
export const productKey = (productId: string): string => `${TAG}:product:${productId}`;

/** Set of every productId (for listing). */
export const productIndexKey = (): string => `${TAG}:products`;

/** Hash: state, items (JSON priced lines), reason. One per order, kept as the order's dedupe mark. */
export const reservationKey = (orderId: string): string => `${TAG}:reservation:${orderId}`;
