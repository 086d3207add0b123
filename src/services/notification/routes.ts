/** HTTP routes of the notification service: the query of recorded notifications, a page at a time. */
import { pageLimit } from "../../lib/http/query.js";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema, UserIdSchema } from "../../contracts/common.js";
import { parseQuery } from "../../lib/http/server.js";
import type { NotificationPosition, NotificationStore } from "./store.js";

/** An opaque cursor: the last record of a page (creation time and id), base64url JSON. */
export const encodeNotificationCursor = (p: NotificationPosition): string =>
  Buffer.from(JSON.stringify([p.createdAt, p.notificationId])).toString("base64url");

export function decodeNotificationCursor(cursor: string): NotificationPosition | undefined {
  if (!/^[A-Za-z0-9_-]{1,1000}$/.test(cursor)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [createdAt, notificationId] = parsed as unknown[];
    if (typeof createdAt !== "string" || Number.isNaN(Date.parse(createdAt))) return undefined;
    return typeof notificationId === "string" ? { createdAt, notificationId } : undefined;
  } catch {
    return undefined;
  }
}

export const NotificationQuerySchema = z
  .strictObject({
    userId: UserIdSchema.optional(),
    orderId: OrderIdSchema.optional(),
    limit: pageLimit(500).default(100),
    cursor: z
      .string()
      .refine(
        (c) => decodeNotificationCursor(c) !== undefined,
        "cursor: the nextCursor of a previous page, unchanged",
      )
      .optional(),
  })
  // Reported at userId (`query:userId`): an issue without a path would name only "query".
  .refine((q) => q.userId !== undefined || q.orderId !== undefined, {
    message: "userId or orderId is required",
    path: ["userId"],
  });

export function notificationRoutes(store: NotificationStore): (app: FastifyInstance) => void {
  return (app) => {
    app.get("/notifications", async (request) => {
      const { cursor, limit, ...query } = parseQuery(NotificationQuerySchema, request.query);
      const after = cursor === undefined ? undefined : decodeNotificationCursor(cursor);
      // One more than asked tells whether another page follows.
      const found = await store.list({ ...query, limit: limit + 1, ...(after ? { after } : {}) });
      const notifications = found.slice(0, limit);
      const last = notifications.at(-1);
      const more = found.length > limit && last !== undefined;
      return { notifications, ...(more ? { nextCursor: encodeNotificationCursor(last) } : {}) };
    });
  };
}
