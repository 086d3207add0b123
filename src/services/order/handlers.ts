/**
 * Bus handlers: every reply of another service becomes a saga input for its order. The bus has
 * already validated the payload; the runner loads, decides and appends atomically with the
 * commands, prepared through the handler's context so correlation and causation carry on.
 */
import type { AllEvents } from "../../contracts/index.js";
import { BusError } from "../../lib/bus/errors.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import type { SagaInput } from "./saga.js";
import type { SagaRunner } from "./saga-runner.js";

/** The replies the saga consumes. */
export const REPLY_EVENTS = [
  "user.validated",
  "inventory.reserved",
  "inventory.reservation.failed",
  "payment.processed",
  "payment.failed",
  "shipping.shipment.prepared",
  "shipping.shipment.failed",
  "shipping.shipment.delivered",
] as const satisfies readonly SagaInput["type"][];

export type ReplyEvent = (typeof REPLY_EVENTS)[number];

type OrderSubscriber = Subscriber<typeof AllEvents, typeof AllEvents>;

export function registerOrderHandlers(subscriber: OrderSubscriber, runner: SagaRunner): OrderSubscriber {
  for (const event of REPLY_EVENTS) {
    subscriber.on(event, async (payload, ctx) => {
      // The payload was parsed against this event's schema, so it is this input's payload.
      const input = { type: event, payload } as SagaInput;
      const result = await runner.run(payload.orderId, input, ctx, true);
      if (result.kind === "unknown") {
        ctx.logger.warn({ orderId: payload.orderId }, "reply for an unknown order ignored");
        return;
      }
      if (result.kind === "unchanged" && result.decision.defer) {
        // Redelivered later (retryable), when the step it follows has been recorded.
        throw new BusError(
          "ORDER_REPLY_TOO_EARLY",
          `${event} for ${payload.orderId}: ${result.decision.defer}`,
          {
            retryable: true,
          },
        );
      }
      if (result.kind === "unchanged")
        ctx.logger.debug({ orderId: payload.orderId }, "reply changed nothing");
    });
  }
  return subscriber;
}
