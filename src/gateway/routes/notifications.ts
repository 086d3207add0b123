import { z } from "zod";
import type { ProxyRoute } from "./types.js";

export const NotificationsQuery = z.object({
  userId: z.string().optional(),
  orderId: z.string().optional(),
});

export const notificationRoutes: ProxyRoute[] = [
  {
    method: "GET",
    url: "/notifications",
    service: "notification",
    tag: "Notifications",
    summary: "Notifications sent, filtered by user and/or order",
    query: NotificationsQuery,
    responses: { 200: "The notifications" },
  },
];
