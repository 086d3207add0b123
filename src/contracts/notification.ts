/** Events owned (published) by the notification service. */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  IdSchema,
  IsoTimestampSchema,
  NotificationChannelSchema,
  OrderIdSchema,
  ReasonSchema,
  UserIdSchema,
} from "./common.js";

/** Template id such as `order.completed` or `welcome`. */
export const TemplateSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[a-zA-Z0-9._-]+$/, "must be a template id");

export const NotificationEvents = defineEvents("notification", {
  "notification.sent": {
    description: "Notification delivered to a channel provider",
    schema: z.strictObject({
      notificationId: IdSchema,
      userId: UserIdSchema,
      channel: NotificationChannelSchema,
      template: TemplateSchema,
      orderId: OrderIdSchema.optional(),
      sentAt: IsoTimestampSchema,
    }),
  },
  "notification.failed": {
    description: "Notification could not be delivered",
    schema: z.strictObject({
      notificationId: IdSchema,
      userId: UserIdSchema,
      channel: NotificationChannelSchema,
      reason: ReasonSchema,
    }),
  },
});

type E = typeof NotificationEvents;
export type NotificationSent = EventPayload<E, "notification.sent">;
export type NotificationFailed = EventPayload<E, "notification.failed">;
