import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parsePayload } from "../lib/bus/events.js";
import { type AllEventName, AllEvents } from "./catalog.js";
import { eventFixtures as fx } from "./fixtures.js";

type Case = readonly [label: string, payload: unknown];
/** At least one hand-picked invalid payload per event; a new event without one fails to compile. */
type InvalidCases = { readonly [N in AllEventName]: readonly [Case, ...Case[]] };

const names = Object.keys(AllEvents) as AllEventName[];
const patch = <N extends AllEventName>(name: N, changes: Record<string, unknown>): unknown => ({
  ...fx[name],
  ...changes,
});
const negativeLine = [{ productId: "sku-1", quantity: -1 }];
const duplicateLines = [
  { productId: "sku-1", quantity: 1 },
  { productId: "sku-1", quantity: 2 },
];

const invalid: InvalidCases = {
  "user.created": [
    ["bad email", patch("user.created", { email: "not-an-email" })],
    ["email in clear", patch("user.created", { email: "ada@example.com" })],
    ["phone in clear", patch("user.created", { phone: "+44 20 7946 0000" })],
    [
      "preferences flag not boolean",
      patch("user.created", { preferences: { email: "yes", push: true, sms: true } }),
    ],
    ["negative version", patch("user.created", { version: -1 })],
  ],
  "user.updated": [
    ["empty changed list", patch("user.updated", { changed: [] })],
    // The user record's version (break35 F7): 1 or more, whole.
    ["version zero", patch("user.updated", { version: 0 })],
    ["fractional version", patch("user.updated", { version: 2.5 })],
  ],
  "user.deleted": [["empty userId", { userId: "" }]],
  "user.validated": [["valid as string", patch("user.validated", { valid: "true" })]],
  "order.placed": [
    ["negative quantity", patch("order.placed", { items: negativeLine })],
    ["no lines", patch("order.placed", { items: [] })],
    ["payment token leaked", patch("order.placed", { paymentToken: "tok_ok" })],
    ["placedAt not ISO", patch("order.placed", { placedAt: "yesterday" })],
  ],
  "order.inventory.reserved": [
    ["total disagrees with lines", patch("order.inventory.reserved", { total: 1 })],
  ],
  "order.payment.processed": [["fractional cents", patch("order.payment.processed", { amount: 10.5 })]],
  "order.shipment.prepared": [["empty carrier", patch("order.shipment.prepared", { carrier: "" })]],
  "order.completed": [["negative duration", patch("order.completed", { durationMs: -1 })]],
  "order.delivered": [["deliveredAt not ISO", patch("order.delivered", { deliveredAt: 1_700_000_000 })]],
  "order.failed": [
    ["unknown stage", patch("order.failed", { stage: "billing" })],
    ["unknown compensation", patch("order.failed", { compensated: ["undo-everything"] })],
  ],
  "order.cancelled": [["empty reason", patch("order.cancelled", { reason: "" })]],
  "order.compensation.failed": [["nothing pending", patch("order.compensation.failed", { pending: [] })]],
  "order.compensation.resolved": [
    ["an outcome that is not an end", patch("order.compensation.resolved", { outcome: "paid" })],
  ],
  "order.event.created": [
    ["duplicate product lines", patch("order.event.created", { items: [...duplicateLines] })],
  ],
  "order.event.status.changed": [
    ["unknown status", patch("order.event.status.changed", { to: "lost" })],
    ["no transition", patch("order.event.status.changed", { from: "paid", to: "paid" })],
  ],
  "user.validation.requested": [["missing userId", { orderId: "o-1" }]],
  "inventory.reservation.requested": [
    ["negative quantity", patch("inventory.reservation.requested", { items: negativeLine })],
  ],
  "inventory.commit.requested": [["orderId with spaces", { orderId: "order 1" }]],
  "payment.requested": [
    ["card number instead of token", patch("payment.requested", { paymentToken: "4242424242424242" })],
    ["attempt zero", patch("payment.requested", { attempt: 0 })],
    ["lower-case currency", patch("payment.requested", { currency: "usd" })],
  ],
  "shipping.shipment.requested": [
    ["zero quantity", patch("shipping.shipment.requested", { items: [{ productId: "sku-1", quantity: 0 }] })],
  ],
  "order.compensation.inventory.release": [["missing reason", { orderId: "o-1" }]],
  "order.compensation.payment.refund": [["reason too long", { orderId: "o-1", reason: "x".repeat(501) }]],
  "order.compensation.shipment.cancel": [["orderId too long", { orderId: "o".repeat(101), reason: "r" }]],
  "inventory.reserved": [
    [
      "negative unit price",
      patch("inventory.reserved", { items: [{ productId: "sku-1", quantity: 1, unitPrice: -5 }], total: -5 }),
    ],
  ],
  "inventory.reservation.failed": [
    ["unknown reason", patch("inventory.reservation.failed", { reason: "warehouse_on_fire" })],
  ],
  "inventory.released": [["negative quantity", patch("inventory.released", { items: negativeLine })]],
  "inventory.release.skipped": [
    ["unknown outcome", patch("inventory.release.skipped", { outcome: "maybe" })],
  ],
  "inventory.committed": [["no lines", patch("inventory.committed", { items: [] })]],
  "inventory.lowStock": [["negative available", patch("inventory.lowStock", { available: -1 })]],
  "inventory.product.added": [["negative price", patch("inventory.product.added", { price: -1 })]],
  "inventory.restocked": [["zero restock", patch("inventory.restocked", { quantity: 0 })]],
  "payment.processed": [["negative amount", patch("payment.processed", { amount: -100 })]],
  "payment.failed": [["unknown code", patch("payment.failed", { code: "insufficient_funds" })]],
  "payment.refund.requested": [["missing paymentId", { orderId: "o-1", amount: 1 }]],
  "payment.refunded": [["amount as string", patch("payment.refunded", { amount: "3000" })]],
  "payment.refund.skipped": [["empty reason", patch("payment.refund.skipped", { reason: "" })]],
  "shipping.shipment.prepared": [
    ["missing trackingNumber", { orderId: "o-1", shipmentId: "s", carrier: "UPS" }],
  ],
  "shipping.shipment.failed": [["transient missing", { orderId: "o-1", reason: "r" }]],
  "shipping.shipment.cancelled": [
    ["shipmentId as number", patch("shipping.shipment.cancelled", { shipmentId: 7 })],
  ],
  "shipping.shipment.cancel.skipped": [["missing outcome", { orderId: "o-1", reason: "delivered" }]],
  "shipping.shipment.delivered": [
    ["deliveredAt not a date", patch("shipping.shipment.delivered", { deliveredAt: "soon" })],
  ],
  "notification.sent": [["unknown channel", patch("notification.sent", { channel: "fax" })]],
  "notification.failed": [["empty reason", patch("notification.failed", { reason: "" })]],
  "service.registered": [
    ["port out of range", patch("service.registered", { port: 70_000 })],
    ["upper-case service name", patch("service.registered", { service: "Inventory" })],
  ],
  "service.deregistered": [["unknown reason", patch("service.deregistered", { reason: "bored" })]],
  "service.heartbeat": [["at not ISO", patch("service.heartbeat", { at: "now" })]],
  "service.health.status": [
    ["negative failures", patch("service.health.status", { consecutiveFailures: -1 })],
  ],
  "metrics.event.processed": [
    ["not an event name", patch("metrics.event.processed", { event: "Not An Event" })],
    [
      "window ends before it starts",
      patch("metrics.event.processed", {
        windowStart: "2025-01-02T00:00:01Z",
        windowEnd: "2025-01-02T00:00:00Z",
      }),
    ],
    ["p99 above max", patch("metrics.event.processed", { durationMs: { p50: 1, p99: 9, max: 5 } })],
  ],
  "metrics.circuit.breaker.state": [
    ["unknown state", patch("metrics.circuit.breaker.state", { to: "HALF" })],
    ["no transition", patch("metrics.circuit.breaker.state", { from: "OPEN", to: "OPEN" })],
  ],
  "metrics.saga.completed": [["negative count", patch("metrics.saga.completed", { count: -1 })]],
};

const accepts = (name: AllEventName, payload: unknown): boolean =>
  AllEvents[name].schema.safeParse(payload).success;

/** A value of another JSON type than `value`, so the field's type check must fail. */
const wrongType = (value: unknown): unknown => (typeof value === "string" ? 12345 : "wrong-type");

describe("every catalog event", () => {
  it.each(names)("%s: its sample payload parses", (name) => {
    expect(() => parsePayload(AllEvents, name, fx[name])).not.toThrow();
  });

  it.each(names)("%s: hand-picked invalid payloads are rejected", (name) => {
    for (const [label, payload] of invalid[name]) {
      expect(accepts(name, payload), `${name}: ${label}`).toBe(false);
    }
  });

  it.each(names)("%s: an unknown extra field is rejected", (name) => {
    expect(accepts(name, { ...fx[name], unexpected: true })).toBe(false);
  });

  it.each(names)("%s: a non-object payload is rejected", (name) => {
    for (const payload of [null, "payload", 1, []]) expect(accepts(name, payload)).toBe(false);
  });

  it.each(names)("%s: each field of the wrong type is rejected", (name) => {
    for (const [key, value] of Object.entries(fx[name])) {
      expect(accepts(name, { ...fx[name], [key]: wrongType(value) }), `${name}.${key}`).toBe(false);
    }
  });

  it.each(names)("%s: dropping a required field is rejected, dropping an optional one is not", (name) => {
    const schema = AllEvents[name].schema;
    if (!(schema instanceof z.ZodObject)) throw new Error(`${name} schema is not an object`);
    const shape: Readonly<Record<string, z.ZodType | undefined>> = schema.shape;
    for (const key of Object.keys(fx[name])) {
      const { [key]: _dropped, ...rest } = fx[name] as Record<string, unknown>;
      const optional = shape[key]?.safeParse(undefined).success ?? false;
      expect(accepts(name, rest), `${name} without ${key}`).toBe(optional);
    }
  });
});

describe("defaults and the saga's money rules", () => {
  it("fills currency with USD when a publisher omits it", () => {
    expect(parsePayload(AllEvents, "payment.refund.requested", fx["payment.refund.requested"])).toMatchObject(
      {
        currency: "USD",
      },
    );
  });

  it("accepts a reservation whose total matches its priced lines", () => {
    const items = [{ productId: "a", quantity: 3, unitPrice: 199 }];
    expect(accepts("inventory.reserved", { orderId: "o", items, total: 597 })).toBe(true);
  });

  it("accepts a timestamp with an explicit offset", () => {
    expect(
      accepts("service.heartbeat", { service: "order", instanceId: "o-1", at: "2025-01-02T03:04:05+02:00" }),
    ).toBe(true);
  });
});
