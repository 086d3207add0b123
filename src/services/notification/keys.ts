/**
 * Every Redis key of the notification service, under the hash tag `{notification}`: the contact
 * projection, the notification records (keyed by their dedupe key), the query indexes and the
 * service's event streams share one slot, so one Lua script may touch them all.
 */
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";

export const NOTIFICATION_TAG = "notification";

/** Hash: `at` (time of the last applied user event), `data` (contact JSON), `deleted` ("1"). */
export const contactKey = (userId: string): string => `{${NOTIFICATION_TAG}}:contact:${userId}`;

/** String: the notification record (JSON) of one `<template>:<orderId or userId>:<channel>`. */
export const notificationKey = (dedupeKey: string): string => `{${NOTIFICATION_TAG}}:n:${dedupeKey}`;

/** Sorted sets of dedupe keys scored by creation time: the `GET /notifications` indexes. */
export const byUserKey = (userId: string): string => `{${NOTIFICATION_TAG}}:by-user:${userId}`;
export const byOrderKey = (orderId: string): string => `{${NOTIFICATION_TAG}}:by-order:${orderId}`;

/** Stream of a notification-owned event. */
export const notificationEventStreamKey = (topic: string): string => eventStreamKey(NOTIFICATION_TAG, topic);

/**
 * String: the simulated channel provider's answer to one notification id (`{"status",...,"at"}`),
 * its idempotency ledger shared by every instance (break34 F3). TTL: the platform's MARKER_TTL_MS.
 */
export const providerSentKey = (notificationId: string): string =>
  `{${NOTIFICATION_TAG}}:provider:sent:${notificationId}`;

/** String: the flaky test mode's first try of a notification id was failed (TTL as above). */
export const providerFlakyKey = (notificationId: string): string =>
  `{${NOTIFICATION_TAG}}:provider:flaky:${notificationId}`;
