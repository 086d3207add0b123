/**
 * Every Redis key of the user service, under the hash tag `{user}` so a user, its email claim, the
 * validation marks and the service's event streams share one slot (one Lua script may touch them all).
 */
import { createHash } from "node:crypto";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";

export const USER_TAG = "user";

/** Hash: `data` (the user as JSON) and `version` (bumped by every write, for optimistic updates). */
export const userKey = (id: string): string => `{${USER_TAG}}:u:${id}`;

/**
 * String: the id of the user holding an email. Named by the email's blind index (hex HMAC-SHA256 of
 * the lower-cased email, UserDataCipher.emailIndex), never the email itself.
 */
export const emailKey = (emailIndex: string): string => `{${USER_TAG}}:email:${emailIndex}`;

/** String: present when the id belonged to a deleted user (validation answers "deleted"). */
export const deletedKey = (id: string): string => `{${USER_TAG}}:deleted:${id}`;

/** String: the `user.validated` answer already given for an order (exactly one answer per order). */
export const validationKey = (orderId: string): string => `{${USER_TAG}}:validated:${orderId}`;

/** Stream of a user-owned event. */
export const userEventStreamKey = (topic: string): string => eventStreamKey(USER_TAG, topic);

/**
 * String, with a TTL (24 h by default): `<request digest> <user id>`, the user a client's
 * `POST /users` Idempotency-Key created (break35 F2). Named by SHA-256 of (client, key) so neither
 * shows; the digest is keyed (UserDataCipher.requestDigest), as the body holds the email.
 */
export const createIdempotencyKey = (client: string, key: string): string =>
  `{${USER_TAG}}:idem:${createHash("sha256").update(`${client}\n${key}`).digest("hex")}`;
