/**
 * Event handlers of the user service. `user.validation.requested` is answered exactly once per
 * order: the answer and its dedupe mark are written in one store call, so a redelivery (even after
 * the bus idempotency mark is gone) emits nothing.
 */
import type { AllEvents } from "../../contracts/catalog.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import { decideValidation } from "./domain.js";
import type { UserStore } from "./store.js";

type Events = typeof AllEvents;

export function registerUserHandlers(subscriber: Subscriber<Events, Events>, store: UserStore): void {
  subscriber.on("user.validation.requested", async ({ orderId, userId }, ctx) => {
    // The status is read in the write (one Redis call for an active user), so the answer is the
    // user's status when it is recorded.
    const first = await store.answerValidation(orderId, userId, (status) => [
      ctx.prepare("user.validated", decideValidation(orderId, userId, status)).message,
    ]);
    if (!first) ctx.logger.debug({ orderId }, "validation already answered for this order");
  });
}
