/**
 * Compensation: which steps to undo when a saga fails or is cancelled, in which order, and the
 * terminal decision that sends them atomically with the terminal status.
 */
import type { Compensation, FailureStage } from "../../contracts/index.js";
import type { OrderDomainEvent, SagaStep } from "./events.js";
import {
  clip,
  DEFAULT_SAGA_OPTIONS,
  NOTHING,
  type SagaCommand,
  type SagaDecision,
  type SagaOptions,
  sagaDuration,
  statusChange,
} from "./saga-model.js";
import { type OrderState, pendingCompensations } from "./state.js";

/** Compensation of each step; validation changes nothing elsewhere, so it has none. */
const COMPENSATION: Partial<Record<SagaStep, Compensation>> = {
  inventory: "inventory.release",
  payment: "payment.refund",
  shipping: "shipment.cancel",
};

/**
 * Compensations of every step that was requested (a request may still be in flight: the services
 * treat a compensation before its request as a tombstone), newest step first. `settled` is the step
 * that reported its own failure: it did nothing, so it needs no compensation.
 */
export function compensationsFor(requested: readonly SagaStep[], settled?: SagaStep): Compensation[] {
  return requested
    .filter((step) => step !== settled)
    .flatMap((step) => COMPENSATION[step] ?? [])
    .reverse();
}

export interface Termination {
  /** Present for failures, absent for a cancel. */
  stage?: FailureStage;
  reason: string;
  settled?: SagaStep;
}

export function terminate(
  state: OrderState,
  now: number,
  end: Termination,
  options: SagaOptions = DEFAULT_SAGA_OPTIONS,
): SagaDecision {
  const { orderId, userId } = state;
  const reason = clip(end.reason);
  const compensated = compensationsFor(state.requested, end.settled);
  const events: OrderDomainEvent[] = [statusChange(state, end.stage ? "failed" : "cancelled", reason)];
  if (compensated.length > 0) {
    const deadline = now + options.compensationWindowMs;
    events.push({
      type: "order.event.compensation.requested",
      data: { orderId, compensations: compensated, reason, deadline },
    });
  }
  const commands: SagaCommand[] = compensated.map((c) => compensationCommand(c, orderId, reason));
  commands.push(
    end.stage
      ? { event: "order.failed", payload: { orderId, userId, reason, stage: end.stage, compensated } }
      : { event: "order.cancelled", payload: { orderId, userId, reason, compensated } },
  );
  return {
    events,
    commands,
    outcome: { saga: end.stage ? "failed" : "cancelled", durationMs: sagaDuration(state, now) },
  };
}

function compensationCommand(compensation: Compensation, orderId: string, reason: string): SagaCommand {
  const payload = { orderId, reason };
  switch (compensation) {
    case "inventory.release":
      return { event: "order.compensation.inventory.release", payload };
    case "payment.refund":
      return { event: "order.compensation.payment.refund", payload };
    case "shipment.cancel":
      return { event: "order.compensation.shipment.cancel", payload };
  }
}

/** Statuses in which the saga waits for its compensations' replies. */
const COMPENSATING: ReadonlySet<OrderState["status"]> = new Set(["failed", "cancelled"]);

/**
 * A compensation's reply. `done` counts it confirmed; `refused` (the step is past its point of no
 * return) cannot be made consistent by the saga alone: the order goes to `compensation_failed` for an
 * operator. Replies to compensations never sent, or already settled, change nothing.
 */
export function settleCompensation(
  state: OrderState,
  input: { compensation: Compensation; outcome: "done" | "refused"; detail: string },
): SagaDecision {
  const { compensation, outcome } = input;
  const pending = pendingCompensations(state);
  if (!pending.includes(compensation)) return NOTHING;
  const detail = clip(input.detail);
  const events: OrderDomainEvent[] = [
    {
      type: "order.event.compensation.settled",
      data: { orderId: state.orderId, compensation, outcome, detail, remaining: pending.length - 1 },
    },
  ];
  if (outcome === "done" && state.status === "compensation_failed")
    return settledLate(state, pending, events);
  if (outcome === "done" || !COMPENSATING.has(state.status)) return { events, commands: [] };
  const reason = clip(`${compensation} refused: ${detail}`);
  return flagged(state, [compensation], reason, events);
}

/**
 * A confirmation in `compensation_failed`. When it was the last one pending and none was refused,
 * the order is consistent after all (everything undone, only late): it goes back to the status it
 * was flagged from (`failed`/`cancelled`) with the reason "compensations settled late", and
 * `order.compensation.resolved` tells the payment reconciliation to stop listing it (docs/saga.md §9).
 */
function settledLate(state: OrderState, pending: Compensation[], events: OrderDomainEvent[]): SagaDecision {
  const back = state.flaggedFrom;
  if (pending.length > 1 || state.refused || (back !== "failed" && back !== "cancelled"))
    return { events, commands: [] };
  const reason = "compensations settled late: every compensation was confirmed after its window";
  const { orderId, userId } = state;
  return {
    events: [...events, statusChange(state, back, reason)],
    commands: [{ event: "order.compensation.resolved", payload: { orderId, userId, outcome: back, reason } }],
  };
}

/** Compensations still unconfirmed when their window closed: the order needs an operator. */
export function compensationOverdue(state: OrderState, now: number): SagaDecision | undefined {
  const pending = pendingCompensations(state);
  const deadline = state.compensationDeadline;
  if (!COMPENSATING.has(state.status) || pending.length === 0 || deadline === undefined) return undefined;
  if (now < deadline) return NOTHING;
  const reason = `compensation not confirmed in time: ${pending.join(", ")}`;
  return flagged(state, pending, reason, []);
}

function flagged(
  state: OrderState,
  pending: Compensation[],
  reason: string,
  events: OrderDomainEvent[],
): SagaDecision {
  const { orderId, userId } = state;
  return {
    events: [...events, statusChange(state, "compensation_failed", reason)],
    commands: [{ event: "order.compensation.failed", payload: { orderId, userId, reason, pending } }],
    compensationFailed: true,
  };
}
