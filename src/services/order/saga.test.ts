import { describe, expect, it } from "vitest";
import { OrderEvents } from "../../contracts/index.js";
import { parsePayload } from "../../lib/bus/events.js";
import { fromStoredEvent, toNewEvent } from "./events.js";
import { decide } from "./saga.js";
import {
  applied,
  commandNames,
  given,
  orderId,
  placed,
  replies,
  STEP,
  T0,
  transientFailure,
} from "./saga-fixtures.js";
import { foldEvents } from "./state.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";

describe("place", () => {
  it("records the order and asks for user validation with order.placed", () => {
    const decision = placed();
    expect(decision.events.map((e) => e.type)).toEqual(["order.event.created", "order.event.step.requested"]);
    expect(commandNames(decision)).toEqual(["order.placed", "user.validation.requested"]);
    const state = foldEvents(decision.events)!;
    expect(state).toMatchObject({ status: "pending", awaiting: "validation", deadline: T0 + STEP });
  });

  it("keeps the payment token out of every event's data and every command but payment.requested", () => {
    const decisions = [
      placed(),
      decide(given(), replies.valid, T0),
      decide(given(replies.valid), replies.reserved, T0),
    ];
    const leaked = decisions.flatMap((d) => [
      ...d.events.map((e) => JSON.stringify(e.data)),
      ...d.commands.filter((c) => c.event !== "payment.requested").map((c) => JSON.stringify(c.payload)),
    ]);
    expect(leaked.filter((text) => text.includes("tok_ok"))).toEqual([]);
  });

  it("builds commands and events that the catalog accepts", () => {
    const decision = placed();
    for (const c of decision.commands)
      expect(() => parsePayload(OrderEvents, c.event, c.payload)).not.toThrow();
    const stored = decision.events.map((e) => JSON.parse(JSON.stringify({ metadata: {}, ...toNewEvent(e) })));
    const roundTrip = stored.map(fromStoredEvent);
    expect(roundTrip).toEqual(decision.events);
  });
});

describe("happy path", () => {
  it("valid user → reservation requested with a fresh deadline", () => {
    const decision = decide(given(), replies.valid, T0 + 500);
    expect(commandNames(decision)).toEqual(["inventory.reservation.requested"]);
    expect(applied(given(), decision)).toMatchObject({ awaiting: "inventory", deadline: T0 + 500 + STEP });
  });

  it("reserved → status reserved, priced, payment attempt 1 for the total with the token", () => {
    const state = given(replies.valid);
    const decision = decide(state, replies.reserved, T0);
    expect(commandNames(decision)).toEqual(["order.inventory.reserved", "payment.requested"]);
    expect(decision.commands[1]?.payload).toEqual({
      orderId,
      userId: "u-1",
      amount: 3000,
      currency: "USD",
      paymentToken: SEALED_TOKEN,
      attempt: 1,
    });
    expect(applied(state, decision)).toMatchObject({ status: "reserved", pricing: { total: 3000 } });
  });

  it("paid → status paid and shipment requested", () => {
    const state = given(replies.valid, replies.reserved);
    const decision = decide(state, replies.paid, T0);
    expect(commandNames(decision)).toEqual(["order.payment.processed", "shipping.shipment.requested"]);
    expect(applied(state, decision).status).toBe("paid");
  });

  it("shipment prepared → shipped, stock committed, saga completed with its duration", () => {
    const state = given(replies.valid, replies.reserved, replies.paid);
    const decision = decide(state, replies.shipped, T0 + 4000);
    expect(commandNames(decision)).toEqual([
      "order.shipment.prepared",
      "inventory.commit.requested",
      "order.completed",
    ]);
    expect(decision.commands[2]?.payload).toMatchObject({ total: 3000, durationMs: 4000 });
    expect(decision.outcome).toEqual({ saga: "completed", durationMs: 4000 });
    expect(applied(state, decision)).toMatchObject({
      status: "shipped",
      awaiting: undefined,
      deadline: undefined,
    });
  });

  it("delivered after shipped → delivered and order.delivered", () => {
    const state = given(replies.valid, replies.reserved, replies.paid, replies.shipped);
    const decision = decide(state, replies.delivered, T0);
    expect(commandNames(decision)).toEqual(["order.delivered"]);
    expect(applied(state, decision).status).toBe("delivered");
  });

  it("delivery reported before the shipment is deferred, not dropped", () => {
    const decision = decide(given(replies.valid, replies.reserved, replies.paid), replies.delivered, T0);
    expect(decision.events).toEqual([]);
    expect(decision.defer).toBeDefined();
  });
});

describe("failures", () => {
  it("invalid user → failed at validation, nothing to compensate", () => {
    const decision = decide(given(), replies.invalid, T0);
    expect(commandNames(decision)).toEqual(["order.failed"]);
    expect(decision.commands[0]?.payload).toMatchObject({ stage: "validation", compensated: [] });
    expect(decision.outcome?.saga).toBe("failed");
    // Prefixed by its step like every other failure reason (newuser9 F11).
    expect(decision.commands[0]?.payload).toMatchObject({ reason: "user: u-1 is not valid: user not found" });
  });

  it("out of stock → failed at inventory, nothing to compensate", () => {
    const decision = decide(given(replies.valid), replies.outOfStock, T0);
    expect(commandNames(decision)).toEqual(["order.failed"]);
    expect(decision.commands[0]?.payload).toMatchObject({ stage: "inventory", compensated: [] });
  });

  it("payment declined → failed at payment, inventory released", () => {
    const decision = decide(given(replies.valid, replies.reserved), replies.declined, T0);
    expect(commandNames(decision)).toEqual(["order.compensation.inventory.release", "order.failed"]);
    expect(decision.commands[1]?.payload).toMatchObject({
      stage: "payment",
      compensated: ["inventory.release"],
    });
  });

  it("transient payment failures are retried with the next attempt, keeping the step's deadline", () => {
    const state = given(replies.valid, replies.reserved);
    const decision = decide(state, transientFailure(1), T0 + 9000);
    expect(decision.commands).toEqual([
      expect.objectContaining({
        event: "payment.requested",
        payload: expect.objectContaining({ attempt: 2 }),
      }),
    ]);
    expect(applied(state, decision)).toMatchObject({ paymentAttempt: 2, deadline: state.deadline });
  });

  it("three transient payment failures → failed at payment, inventory released and the ambiguous charge voided", () => {
    const state = given(replies.valid, replies.reserved, transientFailure(1), transientFailure(2));
    const decision = decide(state, transientFailure(3), T0);
    // A timeout on the last attempt may still be charged at the provider: the refund (a void when
    // nothing landed) is requested too, never dropped.
    expect(commandNames(decision)).toEqual([
      "order.compensation.payment.refund",
      "order.compensation.inventory.release",
      "order.failed",
    ]);
  });

  it("a declined card settles the payment step: only the inventory is released", () => {
    const decision = decide(given(replies.valid, replies.reserved), replies.declined, T0);
    expect(commandNames(decision)).toEqual(["order.compensation.inventory.release", "order.failed"]);
  });

  it("a payment.processed whose amount or currency is not the order total fails the order at payment and refunds the charge", () => {
    const state = given(replies.valid, replies.reserved);
    for (const payload of [
      { ...replies.paid.payload, amount: replies.paid.payload.amount + 500 },
      { ...replies.paid.payload, currency: "EUR" },
    ]) {
      const decision = decide(state, { type: "payment.processed", payload }, T0);
      expect(commandNames(decision)).toEqual([
        "order.compensation.payment.refund",
        "order.compensation.inventory.release",
        "order.failed",
      ]);
      expect(applied(state, decision)).toMatchObject({ status: "failed" });
      expect(decision.outcome).toMatchObject({ saga: "failed" });
      expect(JSON.stringify(decision.commands.at(-1))).toContain("PAYMENT_AMOUNT_MISMATCH");
    }
  });

  it("a failure of a superseded payment attempt is ignored", () => {
    const state = given(replies.valid, replies.reserved, transientFailure(1));
    expect(decide(state, transientFailure(1), T0)).toEqual({ events: [], commands: [] });
  });

  it("shipment failure → refund, then release, in that order", () => {
    const decision = decide(given(replies.valid, replies.reserved, replies.paid), replies.shipFailed, T0);
    expect(commandNames(decision)).toEqual([
      "order.compensation.payment.refund",
      "order.compensation.inventory.release",
      "order.failed",
    ]);
    expect(decision.commands[2]?.payload).toMatchObject({
      stage: "shipping",
      compensated: ["payment.refund", "inventory.release"],
    });
  });
});
