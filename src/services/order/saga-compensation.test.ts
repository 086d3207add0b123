import { describe, expect, it } from "vitest";
import { compensationsFor, decide, type SagaInput } from "./saga.js";
import { applied, commandNames, given, placed, replies, STEP, T0 } from "./saga-fixtures.js";
import { foldEvents } from "./state.js";

describe("deadlines", () => {
  const cases: { step: string; inputs: SagaInput[]; compensations: string[] }[] = [
    { step: "validation", inputs: [], compensations: [] },
    { step: "inventory", inputs: [replies.valid], compensations: ["order.compensation.inventory.release"] },
    {
      step: "payment",
      inputs: [replies.valid, replies.reserved],
      compensations: ["order.compensation.payment.refund", "order.compensation.inventory.release"],
    },
    {
      step: "shipping",
      inputs: [replies.valid, replies.reserved, replies.paid],
      compensations: [
        "order.compensation.shipment.cancel",
        "order.compensation.payment.refund",
        "order.compensation.inventory.release",
      ],
    },
  ];
  for (const { step, inputs, compensations } of cases) {
    it(`a missed ${step} deadline fails the order and compensates every requested step`, () => {
      const state = given(...inputs);
      expect(decide(state, { type: "timeout" }, state.deadline! - 1).events).toEqual([]);
      const decision = decide(state, { type: "timeout" }, state.deadline!);
      expect(commandNames(decision)).toEqual([...compensations, "order.failed"]);
      expect(decision.commands.at(-1)?.payload).toMatchObject({ stage: "timeout" });
      expect(applied(state, decision).status).toBe("failed");
    });
  }

  it("a timeout after the saga ended decides nothing", () => {
    const state = given(replies.valid, replies.reserved, replies.paid, replies.shipped);
    expect(decide(state, { type: "timeout" }, T0 + 100 * STEP)).toEqual({ events: [], commands: [] });
  });
});

describe("cancel", () => {
  it("while pending before validation → cancelled with nothing to compensate", () => {
    const decision = decide(given(), { type: "cancel" }, T0);
    expect(commandNames(decision)).toEqual(["order.cancelled"]);
    expect(decision.commands[0]?.payload).toMatchObject({ reason: "cancelled by user", compensated: [] });
    expect(decision.outcome?.saga).toBe("cancelled");
  });

  it("while pending with the reservation in flight → releases it", () => {
    const decision = decide(given(replies.valid), { type: "cancel" }, T0);
    expect(commandNames(decision)).toEqual(["order.compensation.inventory.release", "order.cancelled"]);
  });

  it("while reserved → refund (payment in flight), then release", () => {
    const decision = decide(given(replies.valid, replies.reserved), { type: "cancel" }, T0);
    expect(commandNames(decision)).toEqual([
      "order.compensation.payment.refund",
      "order.compensation.inventory.release",
      "order.cancelled",
    ]);
  });

  it("while paid → cancel shipment, refund, release", () => {
    const state = given(replies.valid, replies.reserved, replies.paid);
    const decision = decide(state, { type: "cancel" }, T0);
    expect(decision.commands.at(-1)?.payload).toMatchObject({
      compensated: ["shipment.cancel", "payment.refund", "inventory.release"],
    });
    expect(applied(state, decision)).toMatchObject({ status: "cancelled", deadline: undefined });
  });

  for (const [label, inputs] of [
    ["shipped", [replies.valid, replies.reserved, replies.paid, replies.shipped]],
    ["failed", [replies.invalid]],
  ] as const) {
    it(`is rejected once ${label}`, () => {
      const decision = decide(given(...inputs), { type: "cancel" }, T0);
      expect(decision.rejected?.code).toBe("ORDER_NOT_CANCELLABLE");
      expect(decision.events).toEqual([]);
    });
  }
});

describe("late and duplicate replies", () => {
  it("replies to a failed order are ignored", () => {
    const state = given(replies.valid, replies.reserved, replies.declined);
    for (const reply of [replies.paid, replies.reserved, replies.shipped, replies.delivered]) {
      expect(decide(state, reply, T0)).toEqual({ events: [], commands: [] });
    }
  });

  it("a reservation arriving after a timeout is ignored", () => {
    const state = foldEvents([
      ...placed().events,
      ...decide(given(), replies.valid, T0).events,
      ...decide(given(replies.valid), { type: "timeout" }, T0 + 2 * STEP).events,
    ])!;
    expect(state.status).toBe("failed");
    expect(decide(state, replies.reserved, T0)).toEqual({ events: [], commands: [] });
  });

  it("every reply delivered twice produces nothing the second time", () => {
    const flow = [replies.valid, replies.reserved, replies.paid, replies.shipped, replies.delivered];
    flow.forEach((reply, i) => {
      const state = given(...flow.slice(0, i + 1));
      expect(decide(state, reply, T0)).toEqual({ events: [], commands: [] });
    });
  });
});

describe("compensationsFor", () => {
  it("lists requested steps' compensations newest first, skipping the step that settled itself", () => {
    expect(compensationsFor(["validation", "inventory", "payment", "shipping"], "shipping")).toEqual([
      "payment.refund",
      "inventory.release",
    ]);
  });
});
