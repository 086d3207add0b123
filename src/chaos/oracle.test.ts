import { describe, expect, it } from "vitest";
import {
  check,
  failureReason,
  goodCardsComplete,
  holds,
  type OrderSnapshot,
  type Snapshot,
} from "./oracle.js";

const order = (over: Partial<OrderSnapshot> = {}): OrderSnapshot => ({
  orderId: "o-1",
  status: "delivered",
  total: 2500,
  provider: { charged: 2500, refunded: 0 },
  notifications: [{ template: "order.confirmed", channel: "email" }],
  history: [{ type: "order.event.step.completed", data: { step: "payment" } }],
  ...over,
});
const snapshot = (over: Partial<Snapshot> = {}): Snapshot => ({
  orders: [order()],
  stock: [{ productId: "p", stocked: 10, available: 8, reserved: 0, committed: 2 }],
  reconciliation: [],
  ...over,
});

describe("fault suite oracle", () => {
  it("accepts a consistent run", () => {
    expect(holds(check(snapshot()))).toBe(true);
  });

  it("flags an order left running (I-terminal)", () => {
    expect(check(snapshot({ orders: [order({ status: "paid" })] }))["I-terminal"]).toEqual(["o-1 is paid"]);
  });

  it("flags a shipped order never delivered within the drain (I-terminal: a stalled delivery poller)", () => {
    const verdict = check(snapshot({ orders: [order({ status: "shipped" })] }));
    expect(verdict["I-terminal"]).toEqual(["o-1 is shipped"]);
  });

  it("flags lost, negative or leaked stock (I-stock)", () => {
    const verdict = check(
      snapshot({ stock: [{ productId: "p", stocked: 10, available: 7, reserved: 1, committed: 1 }] }),
    );
    expect(verdict["I-stock"]).toEqual([
      "p: 9 units accounted, 10 stocked",
      "p: 1 still reserved after every order settled",
    ]);
  });

  it("flags a failed order still charged and a completed one not charged (I-money)", () => {
    const verdict = check(
      snapshot({
        orders: [
          order({ orderId: "f", status: "failed", provider: { charged: 2500, refunded: 0 } }),
          order({ orderId: "c", status: "shipped", provider: { charged: 0, refunded: 0 } }),
        ],
        reconciliation: [{ orderId: "f", reason: "order failed but the provider still holds 2500" }],
      }),
    );
    expect(verdict["I-money"]).toHaveLength(3);
  });

  it("does not count a compensation_failed order resolved back to failed as ending twice (I-once)", () => {
    const change = (from: string, to: string) => ({ type: "order.event.status.changed", data: { from, to } });
    const resolved = order({
      status: "failed",
      provider: { charged: 2500, refunded: 2500 },
      history: [
        change("paid", "compensating"),
        change("compensating", "failed"),
        change("failed", "compensation_failed"),
        change("compensation_failed", "failed"),
      ],
    });
    expect(check(snapshot({ orders: [resolved] }))["I-once"]).toEqual([]);
    const twice = order({
      ...resolved,
      history: [change("paid", "failed"), change("compensating", "failed")],
    });
    expect(check(snapshot({ orders: [twice] }))["I-once"]).toEqual(["o-1: ended twice"]);
  });

  it("flags a fact notified twice on one channel and a step recorded twice (I-once)", () => {
    const twice = order({
      notifications: [
        { template: "order.confirmed", channel: "email" },
        { template: "order.confirmed", channel: "email" },
      ],
      history: [
        { type: "order.event.step.completed", data: { step: "payment" } },
        { type: "order.event.step.completed", data: { step: "payment" } },
      ],
    });
    expect(check(snapshot({ orders: [twice] }))["I-once"]).toHaveLength(2);
  });
});

describe("card-errors expectation (issue 8 input 3: good orders complete beside card errors)", () => {
  const failed = (orderId: string, reason: string) =>
    order({
      orderId,
      status: "failed",
      provider: { charged: 0, refunded: 0 },
      notifications: [{ template: "order.failed", channel: "email" }],
      history: [{ type: "order.event.status.changed", data: { to: "failed", reason } }],
    });
  const placements = new Map([
    ["ok-1", { token: "tok_ok", cancelled: false }],
    ["ok-2", { token: "tok_ok", cancelled: false }],
    ["err-1", { token: "tok_error", cancelled: false }],
  ]);

  it("flags a run where the tok_ok orders failed for the payment, naming the reason", () => {
    const run = snapshot({
      orders: [
        failed("ok-1", "payment step timed out"),
        failed("ok-2", "payment step timed out"),
        failed("err-1", "payment: card error"),
      ],
    });
    expect(holds(check(run))).toBe(true); // consistent, yet it shows nothing of input 3
    expect(goodCardsComplete(run, placements)).toEqual([
      "tok_ok order ok-1 is failed: payment step timed out",
      "tok_ok order ok-2 is failed: payment step timed out",
      "none of the 2 tok_ok orders completed beside the card errors",
    ]);
  });

  it("accepts tok_ok orders that completed, or failed for a reason of their own (stock)", () => {
    const run = snapshot({
      orders: [
        order({ orderId: "ok-1" }),
        failed("ok-2", "inventory: out of stock"),
        failed("err-1", "payment: card error"),
      ],
    });
    expect(goodCardsComplete(run, placements)).toEqual([]);
    expect(failureReason(run.orders[1]!)).toBe("inventory: out of stock");
  });
});
