/**
 * Every Redis key of the inventory service. All share the hash tag `{inventory}` with the streams
 * of the events it owns (`{inventory}:ev:<event>`), so one Lua script may change stock and append
 * the resulting events, also on Redis Cluster.
 */

import { createHash } from "node:crypto";

export const INVENTORY_OWNER = "inventory";
const TAG = `{${INVENTORY_OWNER}}`;

/** Hash: id, name, price, available, reserved, committed, threshold. */
export const productKey = (productId: string): string => `${TAG}:product:${productId}`;

/**
 * Sorted set of every productId, all at score 0 so members sort by id: a page of the catalog is one
 * `ZRANGEBYLEX ... LIMIT` (O(log n + page)), never a read of the whole catalog.
 */
export const productIndexKey = (): string => `${TAG}:product-ids`;

/** The earlier index: a plain set, unpageable. Moved into `productIndexKey` by every listing (atomic batches). */
export const legacyProductIndexKey = (): string => `${TAG}:products`;

/**
 * String: the request hash a restock's Idempotency-Key was first used with, for 24 h: `<hash>` when
 * it applied, `<hash>:missing` or `<hash>:over_limit:<room>` when it was refused (replayed). One key per
 * (client, Idempotency-Key), hashed (`{inventory}:idem:<sha256(client \n key)>`) so neither shows.
 */
export const restockIdempotencyKey = (client: string, key: string): string =>
  `${TAG}:idem:${createHash("sha256").update(`${client}\n${key}`).digest("hex")}`;

/** Hash: state, items (JSON priced lines), reason. One per order, kept as the order's dedupe mark. */
export const reservationKey = (orderId: string): string => `${TAG}:reservation:${orderId}`;
