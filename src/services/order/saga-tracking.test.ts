/**
 * Compensations are tracked until their replies arrive; a window spent without them, or a refusal,
 * moves the order to `compensation_failed` with an event an operator can alert on (issue 8, input 2).
 */
import { describe, expect, it } from "vitest";
import type { Compensation } from "../../contracts/index.js";
import { DEFAULT_SAGA_OPTIONS, decide, type SagaInput } from "./saga.js";
import { applied, commandNames, given, replies, T0 } from "./saga-fixtures.js";
import { pendingCompensations } from "./state.js";

const WINDOW = DEFAULT_SAGA_OPTIONS.compensationWindowMs;
const settled = (compensation: Compensation, outcome: "done" | "refused" = "done"): SagaInput => ({
  type: "compensation.settled",
  compensation,
  outcome,
  detail: outcome === "done" ? "confirmed" : "shipment delivered",
});

/** A failed order (shipping deadline missed) with all three compensations in flight. */
const failedAtShipping = () => {
  const state = given(replies.valid, replies.reserved, replies.paid);
  return applied(state, decide(state, { type: "timeout" }, state.deadline!));
};

describe("compensation tracking", () => {
  it("a failed order waits for every compensation's reply, and records each once", () => {
    let state = failedAtShipping();
    expect(state.status).toBe("failed");
    expect(pendingCompensations(state)).toEqual(["shipment.cancel", "payment.refund", "inventory.release"]);
    for (const c of ["payment.refund", "shipment.cancel"] as const) {
      state = applied(state, decide(state, settled(c), T0));
    }
    expect(decide(state, settled("payment.refund"), T0).events).toEqual([]);
    expect(pendingCompensations(state)).toEqual(["inventory.release"]);
    const last = decide(state, settled("inventory.release"), T0);
    expect(last.events).toEqual([
      expect.objectContaining({
        type: "order.event.compensation.settled",
        data: expect.objectContaining({ remaining: 0 }),
      }),
    ]);
    state = applied(state, last);
    expect(decide(state, { type: "timeout" }, T0 + 2 * WINDOW).events).toEqual([]);
    expect(state.status).toBe("failed");
  });

  it("compensations unconfirmed when the window closes → compensation_failed with an alert event", () => {
    let state = failedAtShipping();
    state = applied(state, decide(state, settled("shipment.cancel"), T0));
    const deadline = state.compensationDeadline!;
    expect(decide(state, { type: "timeout" }, deadline - 1).events).toEqual([]);
    const overdue = decide(state, { type: "timeout" }, deadline);
    expect(commandNames(overdue)).toEqual(["order.compensation.failed"]);
    expect(overdue.commands[0]?.payload).toMatchObject({ pending: ["payment.refund", "inventory.release"] });
    expect(overdue.compensationFailed).toBe(true);
    state = applied(state, overdue);
    expect(state.status).toBe("compensation_failed");
    // A late confirmation is still recorded (the operator sees it), and nothing is sent twice.
    const late = decide(state, settled("payment.refund"), deadline + 1);
    expect(late.commands).toEqual([]);
    expect(applied(state, late).settled).toContain("payment.refund");
    expect(decide(applied(state, late), { type: "timeout" }, deadline + WINDOW).events).toEqual([]);
  });

  it("a refused compensation (too late) flags the order at once", () => {
    const state = failedAtShipping();
    const refused = decide(state, settled("shipment.cancel", "refused"), T0);
    expect(commandNames(refused)).toEqual(["order.compensation.failed"]);
    expect(applied(state, refused).status).toBe("compensation_failed");
  });

  it("replies to compensations never sent change nothing", () => {
    const state = given(replies.valid, replies.reserved, replies.paid, replies.shipped);
    expect(decide(state, settled("payment.refund"), T0).events).toEqual([]);
  });
});

describe("a way out of compensation_failed (review money-break F7)", () => {
  const overdueOrder = () => {
    const state = failedAtShipping();
    const overdue = decide(state, { type: "timeout" }, state.compensationDeadline!);
    return applied(state, overdue);
  };

  it("every compensation confirmed after the window → back to failed, announced, the reconciliation clears", () => {
    let state = overdueOrder();
    expect(state.status).toBe("compensation_failed");
    state = applied(state, decide(state, settled("shipment.cancel"), T0 + 2 * WINDOW));
    state = applied(state, decide(state, settled("payment.refund"), T0 + 2 * WINDOW));
    expect(state.status).toBe("compensation_failed");
    const last = decide(state, settled("inventory.release"), T0 + 2 * WINDOW);
    expect(last.events.at(-1)).toEqual({
      type: "order.event.status.changed",
      data: {
        orderId: state.orderId,
        from: "compensation_failed",
        to: "failed",
        reason: "compensations settled late: every compensation was confirmed after its window",
      },
    });
    expect(commandNames(last)).toEqual(["order.compensation.resolved"]);
    expect(last.commands[0]?.payload).toMatchObject({ outcome: "failed" });
    state = applied(state, last);
    expect(state.status).toBe("failed");
    expect(decide(state, { type: "timeout" }, T0 + 3 * WINDOW).events).toEqual([]);
  });

  it("a refused compensation keeps the order compensation_failed for an operator", () => {
    let state = failedAtShipping();
    state = applied(state, decide(state, settled("shipment.cancel", "refused"), T0));
    state = applied(state, decide(state, settled("payment.refund"), T0));
    const last = decide(state, settled("inventory.release"), T0);
    expect(commandNames(last)).toEqual([]);
    expect(applied(state, last).status).toBe("compensation_failed");
  });
});
