import { describe, expect, expectTypeOf, it } from "vitest";
import { parsePayload } from "../lib/bus/events.js";
import { type AllEventName, AllEvents, type AnyEventInput, type AnyEventPayload } from "./catalog.js";
import type { OrderStatus } from "./common.js";
import { eventFixtures } from "./fixtures.js";
import type { CreateUserBody, PlaceOrderBody } from "./http.js";
import type {
  InventoryReservationFailed,
  MetricsCircuitBreakerState,
  OrderEventStatusChanged,
  OrderFailed,
  OrderPlaced,
  PaymentRequested,
  UserCreated,
} from "./index.js";

/** Stands in for `Publisher.publish`: the same typing, so a wrong payload fails to compile. */
const publish = <N extends AllEventName>(event: N, payload: AnyEventInput<N>): AnyEventPayload<N> =>
  parsePayload(AllEvents, event, payload) as AnyEventPayload<N>;

describe("inferred payload types", () => {
  it("types order lines, statuses and enums from the schemas", () => {
    expectTypeOf<OrderPlaced["items"][number]["quantity"]>().toEqualTypeOf<number>();
    expectTypeOf<OrderPlaced["placedAt"]>().toEqualTypeOf<string>();
    expectTypeOf<OrderEventStatusChanged["to"]>().toEqualTypeOf<OrderStatus>();
    expectTypeOf<OrderFailed["stage"]>().toEqualTypeOf<
      "validation" | "inventory" | "payment" | "shipping" | "timeout"
    >();
    expectTypeOf<InventoryReservationFailed["reason"]>().toEqualTypeOf<
      "out_of_stock" | "unknown_product" | "order_total_too_large"
    >();
    expectTypeOf<MetricsCircuitBreakerState["to"]>().toEqualTypeOf<"CLOSED" | "OPEN" | "HALF_OPEN">();
    expectTypeOf<UserCreated["phone"]>().toEqualTypeOf<string | undefined>();
  });

  it("makes a defaulted currency optional to publish but always present once parsed", () => {
    expectTypeOf<AnyEventInput<"payment.requested">["currency"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<PaymentRequested["currency"]>().toEqualTypeOf<string>();
    expect(publish("payment.processed", { orderId: "o-1", paymentId: "p-1", amount: 5 }).currency).toBe(
      "USD",
    );
  });

  it("keeps the payment token out of order.placed and in payment.requested", () => {
    expectTypeOf<OrderPlaced>().not.toHaveProperty("paymentToken");
    expectTypeOf<PaymentRequested>().toHaveProperty("paymentToken").toEqualTypeOf<string>();
  });

  it("types HTTP bodies from the same building blocks", () => {
    expectTypeOf<PlaceOrderBody["items"]>().toEqualTypeOf<OrderPlaced["items"]>();
    expectTypeOf<CreateUserBody["preferences"]>().toEqualTypeOf<
      { email?: boolean | undefined; push?: boolean | undefined; sms?: boolean | undefined } | undefined
    >();
  });

  it("rejects wrong payloads at compile time and at run time", () => {
    const placed = eventFixtures["order.placed"];
    const stringQuantity = [{ productId: "a", quantity: "2" }];
    const failed = eventFixtures["notification.failed"];
    // @ts-expect-error quantity must be a number
    expect(() => publish("order.placed", { ...placed, items: stringQuantity })).toThrow();
    // @ts-expect-error userId is required
    expect(() => publish("user.deleted", {})).toThrow();
    // @ts-expect-error "fax" is not a channel
    expect(() => publish("notification.failed", { ...failed, channel: "fax" })).toThrow();
    // @ts-expect-error the token never travels in order.placed
    expect(() => publish("order.placed", { ...placed, paymentToken: "tok_ok" })).toThrow();
    // @ts-expect-error not an event of the catalog
    expect(() => publish("order.shipped", {})).toThrow();
  });
});
