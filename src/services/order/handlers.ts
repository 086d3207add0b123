/**
 * Bus handlers: every reply of another service becomes a saga input for its order. The bus has
 * already validated the payload; the runner loads, decides and appends atomically with the
 * commands, prepared through the handler's context so correlation and causation carry on.
 */
import type {
  AllEventName,
  AllEvents,
  Compensation,
  CompensationSkipOutcome,
} from "../../contracts/index.js";
import { BusError } from "../../lib/bus/errors.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import type { SagaInput } from "./saga.js";
import type { SagaRunner } from "./saga-runner.js";
import {
  compensateLostReply,
  lostReplyCompensation,
  type LostReplyOutbox,
  type OnLostReply,
} from "./lost-replies.js";

/** How replies for lost orders (no history) are answered; see lost-replies.ts. */
export interface LostOrderReplies {
  outbox: LostReplyOutbox;
  onLost?: OnLostReply;
}

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

/** The replies to compensations: the service's effect, or its `*.skipped` answer. */
export const COMPENSATION_REPLIES = {
  "inventory.released": "inventory.release",
  "inventory.release.skipped": "inventory.release",
  "payment.refunded": "payment.refund",
  "payment.refund.skipped": "payment.refund",
  "shipping.shipment.cancelled": "shipment.cancel",
  "shipping.shipment.cancel.skipped": "shipment.cancel",
} as const satisfies Partial<Record<AllEventName, Compensation>>;

type CompensationReply = keyof typeof COMPENSATION_REPLIES;

/** `too_late` is a refusal; every other skip means there is nothing (more) to undo. */
function compensationInput(
  event: CompensationReply,
  payload: { outcome?: CompensationSkipOutcome },
): SagaInput {
  const refused = payload.outcome === "too_late";
  return {
    type: "compensation.settled",
    compensation: COMPENSATION_REPLIES[event],
    outcome: refused ? "refused" : "done",
    detail: payload.outcome ? `${event}: ${payload.outcome}` : event,
  };
}

type OrderSubscriber = Subscriber<typeof AllEvents, typeof AllEvents>;

/**
 * The saga decides every reply from the order's own history (a reply for a step or compensation no
 * longer pending changes nothing), never from an expiring mark: so its replies run at any age
 * (`dedupedBy: "record"`). A compensation reply refused as too old left an order whose refund and
 * release had both happened in `compensation_failed` for good, and a DLQ retry was refused again
 * (break-late F4).
 */
const BY_RECORD = { dedupedBy: "record" } as const;

/**
 * A reply for an order with no history (lost with its Redis's last writes, see lost-replies.ts):
 * an effect reply gets its compensation published once (`lost`); a decline needs nothing.
 * Without `lost` (tests of the saga alone) every such reply is only logged.
 */
export function registerOrderHandlers(
  subscriber: OrderSubscriber,
  runner: SagaRunner,
  lost?: LostOrderReplies,
): OrderSubscriber {
  for (const event of REPLY_EVENTS) {
    subscriber.on(
      event,
      async (payload, ctx) => {
        // The payload was parsed against this event's schema, so it is this input's payload.
        const input = { type: event, payload } as SagaInput;
        const result = await runner.run(payload.orderId, input, ctx, true);
        if (result.kind === "unknown") {
          const compensation = lost ? lostReplyCompensation(event, payload) : undefined;
          if (lost && compensation) {
            const { orderId } = payload;
            const published = await compensateLostReply(lost.outbox, event, compensation, orderId, ctx);
            lost.onLost?.(event, compensation, orderId, published);
            return;
          }
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
      },
      BY_RECORD,
    );
  }
  for (const event of Object.keys(COMPENSATION_REPLIES) as CompensationReply[]) {
    subscriber.on(
      event,
      async (payload, ctx) => {
        const input = compensationInput(event, payload as { outcome?: CompensationSkipOutcome });
        const result = await runner.run(payload.orderId, input, ctx, true);
        if (result.kind !== "applied")
          ctx.logger.debug({ orderId: payload.orderId }, "compensation reply changed nothing");
      },
      BY_RECORD,
    );
  }
  return subscriber;
}
