/** HTTP routes of the notification service: the query of recorded notifications. */
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema, UserIdSchema } from "../../contracts/common.js";
import { parseInput } from "../../lib/http/server.js";
import type { NotificationStore } from "./store.js";

export const NotificationQuerySchema = z
  .strictObject({
    userId: UserIdSchema.optional(),
    orderId: OrderIdSchema.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .refine((q) => q.userId !== undefined || q.orderId !== undefined, "userId or orderId is required");

export function notificationRoutes(store: NotificationStore): (app: FastifyInstance) => void {
  return (app) => {
    app.get("/notifications", async (request) => {
      const query = parseInput(NotificationQuerySchema, request.query);
      return { notifications: await store.list(query) };
    });
  };
}
