import { describe, expect, it } from "vitest";
import { check, holds, type OrderSnapshot, type Snapshot } from "./oracle.js";

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
