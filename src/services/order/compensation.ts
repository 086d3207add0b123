/**
 * Compensation: which steps to undo when a saga fails or is cancelled, in which order, and the
 * terminal decision that sends them atomically with the terminal status.
 */
import type { Compensation, FailureStage } from "../../contracts/index.js";
import type { OrderDomainEvent, SagaStep } from "./events.js";
import { clip, type SagaCommand, type SagaDecision, sagaDuration, statusChange } from "./saga-model.js";
import type { OrderState } from "./state.js";

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

export function terminate(state: OrderState, now: number, end: Termination): SagaDecision {
  const { orderId, userId } = state;
  const reason = clip(end.reason);
  const compensated = compensationsFor(state.requested, end.settled);
  const events: OrderDomainEvent[] = [statusChange(state, end.stage ? "failed" : "cancelled", reason)];
  if (compensated.length > 0) {
    events.push({
      type: "order.event.compensation.requested",
      data: { orderId, compensations: compensated, reason },
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
