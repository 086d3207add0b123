/**
 * The order saga as a pure function: `decide(state, input, now)` → the events to append to the
 * order's stream and the commands to send in the same atomic append. No I/O, no clock: `now` is a
 * parameter, so every path is a given-when-then test.
 *
 * Idempotency comes from the state, not from message ids: an input that does not fit the state
 * (a duplicate, a reply to a superseded payment attempt, a late reply to a finished order) decides
 * nothing, so a second delivery never emits a second command.
 */
import type {
  InventoryReserved,
  PaymentFailed,
  PaymentProcessed,
  ShippingShipmentDelivered,
  ShippingShipmentPrepared,
  UserValidated,
} from "../../contracts/index.js";
import { compensationOverdue, settleCompensation, terminate } from "./compensation.js";
import type { OrderDomainEvent, SagaStep } from "./events.js";
import {
  CANCEL_REASON,
  DEFAULT_SAGA_OPTIONS,
  NOTHING,
  type PlaceInput,
  type SagaDecision,
  type SagaInput,
  type SagaOptions,
  sagaDuration,
  statusChange,
} from "./saga-model.js";
import { type OrderState, SAGA_OVER } from "./state.js";

export { compensationsFor } from "./compensation.js";
export {
  CANCEL_REASON,
  DEFAULT_SAGA_OPTIONS,
  type PlaceInput,
  type SagaCommand,
  type SagaCommandName,
  type SagaDecision,
  type SagaInput,
  type SagaOptions,
  type SagaOutcome,
} from "./saga-model.js";

/** Starts a saga: the created event, the validation step, and `order.placed` + the validation request. */
export function place(
  input: PlaceInput,
  now: number,
  options: SagaOptions = DEFAULT_SAGA_OPTIONS,
): SagaDecision {
  const { orderId, userId } = input;
  const items = input.items.map((line) => ({ productId: line.productId, quantity: line.quantity }));
  const placedAt = new Date(now).toISOString();
  const metadata = {
    paymentToken: input.paymentToken,
    correlationId: input.correlationId,
    ...(input.requestHash === undefined ? {} : { requestHash: input.requestHash }),
    ...(input.traceparent === undefined ? {} : { traceparent: input.traceparent }),
  };
  return {
    events: [
      { type: "order.event.created", data: { orderId, userId, items, placedAt }, metadata },
      requestStep(orderId, "validation", 1, now + options.stepTimeoutMs),
    ],
    commands: [
      { event: "order.placed", payload: { orderId, userId, items, placedAt } },
      { event: "user.validation.requested", payload: { orderId, userId } },
    ],
  };
}

export function decide(
  state: OrderState,
  input: SagaInput,
  now: number,
  options: SagaOptions = DEFAULT_SAGA_OPTIONS,
): SagaDecision {
  switch (input.type) {
    case "user.validated":
      return onUserValidated(state, input.payload, now, options);
    case "inventory.reserved":
      return onInventoryReserved(state, input.payload, now, options);
    case "inventory.reservation.failed":
      if (!awaits(state, "pending", "inventory")) return NOTHING;
      return terminate(
        state,
        now,
        { stage: "inventory", reason: `inventory: ${input.payload.reason}`, settled: "inventory" },
        options,
      );
    case "payment.processed":
      return onPaymentProcessed(state, input.payload, now, options);
    case "payment.failed":
      return onPaymentFailed(state, input.payload, now, options);
    case "shipping.shipment.prepared":
      return onShipmentPrepared(state, input.payload, now);
    case "shipping.shipment.failed":
      if (!awaits(state, "paid", "shipping")) return NOTHING;
      return terminate(
        state,
        now,
        { stage: "shipping", reason: `shipping: ${input.payload.reason}`, settled: "shipping" },
        options,
      );
    case "shipping.shipment.delivered":
      return onDelivered(state, input.payload);
    case "compensation.settled":
      return settleCompensation(state, input);
    case "cancel":
      return onCancel(state, now, input.reason ?? CANCEL_REASON, options);
    case "timeout":
      return onTimeout(state, now, options);
  }
}

const awaits = (state: OrderState, status: OrderState["status"], step: SagaStep): boolean =>
  state.status === status && state.awaiting === step;

function requestStep(orderId: string, step: SagaStep, attempt: number, deadline: number): OrderDomainEvent {
  return { type: "order.event.step.requested", data: { orderId, step, attempt, deadline } };
}

function onUserValidated(
  state: OrderState,
  reply: UserValidated,
  now: number,
  options: SagaOptions,
): SagaDecision {
  if (!awaits(state, "pending", "validation")) return NOTHING;
  if (!reply.valid) {
    // Prefixed by its step like the others (`inventory: …`, `payment: …`; newuser9 F11).
    const reason = `user: ${state.userId} is not valid${reply.reason ? `: ${reply.reason}` : ""}`;
    return terminate(state, now, { stage: "validation", reason, settled: "validation" }, options);
  }
  const { orderId, items } = state;
  return {
    events: [
      { type: "order.event.step.completed", data: { orderId, step: "validation" } },
      requestStep(orderId, "inventory", 1, now + options.stepTimeoutMs),
    ],
    commands: [{ event: "inventory.reservation.requested", payload: { orderId, items } }],
  };
}

function onInventoryReserved(
  state: OrderState,
  reply: InventoryReserved,
  now: number,
  options: SagaOptions,
): SagaDecision {
  if (!awaits(state, "pending", "inventory")) return NOTHING;
  const { orderId, userId, paymentToken } = state;
  const { items, total, currency } = reply;
  return {
    events: [
      { type: "order.event.step.completed", data: { orderId, step: "inventory", items, total, currency } },
      statusChange(state, "reserved"),
      requestStep(orderId, "payment", 1, now + options.stepTimeoutMs),
    ],
    commands: [
      { event: "order.inventory.reserved", payload: { orderId, items, total, currency } },
      {
        event: "payment.requested",
        payload: { orderId, userId, amount: total, currency, paymentToken, attempt: 1 },
      },
    ],
  };
}

function onPaymentProcessed(
  state: OrderState,
  reply: PaymentProcessed,
  now: number,
  options: SagaOptions,
): SagaDecision {
  if (!awaits(state, "reserved", "payment")) return NOTHING;
  const { orderId, userId, items } = state;
  const { paymentId, amount, currency } = reply;
  const pricing = state.pricing;
  if (pricing && (amount !== pricing.total || currency !== pricing.currency)) {
    // Defence in depth (break-sig F3): only a holder of payment's key can sign this, yet a charge
    // that is not the order's total is a payment fault. The step is not settled, so the refund of
    // whatever was charged is requested with the release.
    const reason = `payment: PAYMENT_AMOUNT_MISMATCH charged ${amount} ${currency}, order total ${pricing.total} ${pricing.currency} (${paymentId})`;
    return terminate(state, now, { stage: "payment", reason }, options);
  }
  return {
    events: [
      { type: "order.event.step.completed", data: { orderId, step: "payment", paymentId, amount, currency } },
      statusChange(state, "paid"),
      requestStep(orderId, "shipping", 1, now + options.stepTimeoutMs),
    ],
    commands: [
      { event: "order.payment.processed", payload: { orderId, paymentId, amount, currency } },
      { event: "shipping.shipment.requested", payload: { orderId, userId, items } },
    ],
  };
}

function onPaymentFailed(
  state: OrderState,
  reply: PaymentFailed,
  now: number,
  options: SagaOptions,
): SagaDecision {
  // A failure of an earlier attempt (redelivered late) is already superseded by the retry.
  if (!awaits(state, "reserved", "payment") || reply.attempt !== state.paymentAttempt) return NOTHING;
  const pricing = state.pricing;
  if (reply.transient && reply.attempt < options.maxPaymentAttempts && pricing) {
    const attempt = reply.attempt + 1;
    const { orderId, userId, paymentToken } = state;
    return {
      // The retry keeps the step's deadline: the payment step as a whole has one time budget.
      events: [requestStep(orderId, "payment", attempt, state.deadline ?? now + options.stepTimeoutMs)],
      commands: [
        {
          event: "payment.requested",
          payload: {
            orderId,
            userId,
            amount: pricing.total,
            currency: pricing.currency,
            paymentToken,
            attempt,
          },
        },
      ],
    };
  }
  const reason = `payment: ${reply.reason} (${reply.code}, attempt ${reply.attempt})`;
  // Only a definite answer (a decline) settles the step. After a transient failure (a timeout, a
  // lost answer) a charge may still land at the provider: the refund is sent too, and the payment
  // service answers it (void, or refund of a late charge) once the provider's answer is definite.
  const settled = reply.transient ? undefined : "payment";
  return terminate(state, now, { stage: "payment", reason, ...(settled ? { settled } : {}) }, options);
}

function onShipmentPrepared(state: OrderState, reply: ShippingShipmentPrepared, now: number): SagaDecision {
  if (!awaits(state, "paid", "shipping")) return NOTHING;
  const { orderId, userId } = state;
  const { shipmentId, trackingNumber, carrier } = reply;
  const durationMs = sagaDuration(state, now);
  const total = state.pricing?.total ?? 0;
  const currency = state.pricing?.currency ?? "USD";
  return {
    events: [
      {
        type: "order.event.step.completed",
        data: { orderId, step: "shipping", shipmentId, trackingNumber, carrier },
      },
      statusChange(state, "shipped"),
    ],
    commands: [
      { event: "order.shipment.prepared", payload: { orderId, shipmentId, trackingNumber, carrier } },
      { event: "inventory.commit.requested", payload: { orderId } },
      { event: "order.completed", payload: { orderId, userId, total, currency, durationMs } },
    ],
    outcome: { saga: "completed", durationMs },
  };
}

function onDelivered(state: OrderState, reply: ShippingShipmentDelivered): SagaDecision {
  if (awaits(state, "paid", "shipping"))
    return { ...NOTHING, defer: "delivery reported before the shipment" };
  if (state.status !== "shipped") return NOTHING;
  const { orderId, userId } = state;
  const { shipmentId, deliveredAt } = reply;
  return {
    events: [
      { type: "order.event.step.completed", data: { orderId, step: "delivery", shipmentId, deliveredAt } },
      statusChange(state, "delivered"),
    ],
    commands: [{ event: "order.delivered", payload: { orderId, userId, deliveredAt } }],
  };
}

const CANCELLABLE: ReadonlySet<OrderState["status"]> = new Set(["pending", "reserved", "paid"]);

function onCancel(state: OrderState, now: number, reason: string, options: SagaOptions): SagaDecision {
  if (!CANCELLABLE.has(state.status)) {
    const message = `order ${state.orderId} is ${state.status} and can no longer be cancelled`;
    return { ...NOTHING, rejected: { code: "ORDER_NOT_CANCELLABLE", message } };
  }
  return terminate(state, now, { reason }, options);
}

function onTimeout(state: OrderState, now: number, options: SagaOptions): SagaDecision {
  const overdue = compensationOverdue(state, now);
  if (overdue) return overdue;
  // Re-checked here, not only by the sweeper: a reply may have moved the order since it looked.
  if (SAGA_OVER.has(state.status) || state.deadline === undefined || now < state.deadline) return NOTHING;
  const reason = `${state.awaiting ?? "saga"} step timed out`;
  return terminate(state, now, { stage: "timeout", reason }, options);
}
