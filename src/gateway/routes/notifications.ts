import { NotificationQuerySchema } from "../../services/notification/routes.js";
import type { ProxyRoute } from "./types.js";

export const notificationRoutes: ProxyRoute[] = [
  {
    method: "GET",
    url: "/notifications",
    service: "notification",
    tag: "Notifications",
    summary:
      "Notifications sent, by user and/or order, newest first, a page at a time (cursor in, nextCursor out)",
    query: NotificationQuerySchema,
    responses: {
      200: "{ notifications: [...], nextCursor? }",
      400: "Neither userId nor orderId, or an invalid parameter",
    },
  },
];
