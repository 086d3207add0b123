/**
 * Event handlers of the notification service: user events feed the contact projection (and a new
 * user gets a welcome), order facts become notifications through the notifier.
 */
import type { AllEvents } from "../../contracts/catalog.js";
import type { UserCreated, UserUpdated } from "../../contracts/user.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import type { Contact, ContactChange } from "./domain.js";
import type { Notifier } from "./notifier.js";
import type { NotificationStore } from "./store.js";

type Events = typeof AllEvents;

const contactOf = (p: UserCreated | UserUpdated): Contact => ({
  userId: p.userId,
  name: p.name,
  email: p.email,
  ...(p.phone === undefined ? {} : { phone: p.phone }),
  preferences: p.preferences,
});

const occurredAt = (iso: string): number => Date.parse(iso);

/**
 * The change a `user.created`/`user.updated` makes to the projection: ordered by the user record's
 * `version` it carries (break35 F7); an event from before versions has none (ordered by date).
 */
const contactChange = (
  kind: "created" | "updated",
  payload: UserCreated | UserUpdated,
  iso: string,
): ContactChange => ({
  kind,
  at: occurredAt(iso),
  ...(payload.version === undefined ? {} : { version: payload.version }),
  contact: contactOf(payload),
});

export function registerNotificationHandlers(
  subscriber: Subscriber<Events, Events>,
  store: NotificationStore,
  notifier: Notifier,
): void {
  subscriber
    .on("user.created", async (payload, ctx) => {
      await store.applyContact(contactChange("created", payload, ctx.envelope.occurredAt));
      await notifier.notify({ template: "welcome", userId: payload.userId, data: {} }, ctx.prepare);
    })
    .on("user.updated", async (payload, ctx) => {
      await store.applyContact(contactChange("updated", payload, ctx.envelope.occurredAt));
    })
    .on("user.deleted", async ({ userId }, ctx) => {
      await store.applyContact({ kind: "deleted", at: occurredAt(ctx.envelope.occurredAt), userId });
    })
    .on("order.completed", async ({ orderId, userId, total, currency }, ctx) => {
      await notifier.notify(
        { template: "order.confirmed", userId, orderId, data: { total, currency } },
        ctx.prepare,
      );
    })
    .on("order.failed", async ({ orderId, userId, reason, stage }, ctx) => {
      // Validation fails only for a user that does not exist (or no longer does): nobody to tell.
      if (stage === "validation") return;
      await notifier.notify({ template: "order.failed", userId, orderId, data: { reason } }, ctx.prepare);
    })
    .on("order.cancelled", async ({ orderId, userId, reason }, ctx) => {
      await notifier.notify({ template: "order.cancelled", userId, orderId, data: { reason } }, ctx.prepare);
    })
    .on("order.delivered", async ({ orderId, userId, deliveredAt }, ctx) => {
      await notifier.notify(
        { template: "order.delivered", userId, orderId, data: { deliveredAt } },
        ctx.prepare,
      );
    });
}
