import { describe, expect, it } from "vitest";
import { AddProductBody, CreateUserBody, PlaceOrderBody, RestockBody, UpdateUserBody } from "./http.js";

const order = {
  userId: "u-1",
  items: [
    { productId: "sku-1", quantity: 2 },
    { productId: "sku-2", quantity: 1 },
  ],
  payment: { token: "tok_ok" },
};
const lines = (n: number) => Array.from({ length: n }, (_, i) => ({ productId: `p-${i}`, quantity: 1 }));

describe("PlaceOrderBody", () => {
  it("accepts an order with distinct products and a provider token", () => {
    expect(PlaceOrderBody.parse(order)).toEqual(order);
  });

  it.each([
    ["duplicate productIds", { ...order, items: [order.items[0], order.items[0]] }],
    ["zero quantity", { ...order, items: [{ productId: "sku-1", quantity: 0 }] }],
    ["fractional quantity", { ...order, items: [{ productId: "sku-1", quantity: 1.5 }] }],
    ["no items", { ...order, items: [] }],
    ["more than 100 lines", { ...order, items: lines(101) }],
    ["card number instead of a token", { ...order, payment: { token: "4242424242424242" } }],
    ["card data next to the token", { ...order, payment: { token: "tok_ok", cvc: "123" } }],
    ["missing userId", { items: order.items, payment: order.payment }],
  ])("rejects %s", (_label, body) => {
    expect(PlaceOrderBody.safeParse(body).success).toBe(false);
  });

  it("accepts exactly 100 lines", () => {
    expect(PlaceOrderBody.safeParse({ ...order, items: lines(100) }).success).toBe(true);
  });

  it("points the duplicate-product error at the items", () => {
    const result = PlaceOrderBody.safeParse({ ...order, items: [order.items[0], order.items[0]] });
    expect(result.error?.issues[0]?.path).toEqual(["items"]);
  });
});

describe("CreateUserBody and UpdateUserBody", () => {
  const user = { email: "ada@example.com", name: "  Ada  ", preferences: { sms: false } };

  it("accepts a user with partial preferences and trims the name", () => {
    expect(CreateUserBody.parse(user)).toEqual({ ...user, name: "Ada" });
  });

  it.each([
    ["bad email", { ...user, email: "ada@" }],
    ["blank name", { ...user, name: "   " }],
    ["non-boolean preference", { ...user, preferences: { sms: "no" } }],
    ["letters in the phone number", { ...user, phone: "call me" }],
    ["unknown field", { ...user, role: "admin" }],
  ])("create rejects %s", (_label, body) => {
    expect(CreateUserBody.safeParse(body).success).toBe(false);
  });

  it("update accepts a single field", () => {
    expect(UpdateUserBody.parse({ phone: "+1 555 0100" })).toEqual({ phone: "+1 555 0100" });
  });

  it.each([
    ["an empty update", {}],
    ["a bad email", { email: "nope" }],
  ])("update rejects %s", (_label, body) => {
    expect(UpdateUserBody.safeParse(body).success).toBe(false);
  });
});

describe("UpdateUserBody's issues", () => {
  it("names only the unknown field when that is all the body holds, not 'at least one field'", () => {
    const result = UpdateUserBody.safeParse({ bogus: 1 });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.message)).not.toContain(
      "at least one field is required",
    );
    expect(result.error?.issues.some((issue) => issue.code === "unrecognized_keys")).toBe(true);
  });

  it("still says 'at least one field' for an empty body", () => {
    expect(UpdateUserBody.safeParse({}).error?.issues.map((issue) => issue.message)).toEqual([
      "at least one field is required",
    ]);
  });
});

describe("AddProductBody and RestockBody", () => {
  const product = { productId: "sku-9", name: "Gadget", price: 0, quantity: 0 };

  it("accepts a free product with no stock and no threshold", () => {
    expect(AddProductBody.parse(product)).toEqual(product);
  });

  it.each([
    ["price in dollars with cents", { ...product, price: 9.99 }],
    ["negative quantity", { ...product, quantity: -1 }],
    ["negative threshold", { ...product, lowStockThreshold: -1 }],
    ["missing name", { productId: "sku-9", price: 1, quantity: 1 }],
  ])("add rejects %s", (_label, body) => {
    expect(AddProductBody.safeParse(body).success).toBe(false);
  });

  it("restock requires a positive integer quantity", () => {
    expect(RestockBody.safeParse({ quantity: 5 }).success).toBe(true);
    for (const quantity of [0, -3, 2.5, "5"]) expect(RestockBody.safeParse({ quantity }).success).toBe(false);
  });
});
