/** Given-when-then fixtures of the saga tests: replies, a placed order, and state after inputs. */
import { DEFAULT_SAGA_OPTIONS, decide, place, type SagaDecision, type SagaInput } from "./saga.js";
import { evolve, foldEvents, type OrderState } from "./state.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";

export const T0 = Date.parse("2025-01-02T03:04:05.000Z");
export const STEP = DEFAULT_SAGA_OPTIONS.stepTimeoutMs;
export const orderId = "o-1";
const items = [
  { productId: "sku-1", quantity: 2 },
  { productId: "sku-2", quantity: 1 },
];
const priced = [
  { productId: "sku-1", quantity: 2, unitPrice: 1250 },
  { productId: "sku-2", quantity: 1, unitPrice: 500 },
];

export const replies = {
  valid: { type: "user.validated", payload: { orderId, userId: "u-1", valid: true } },
  invalid: {
    type: "user.validated",
    payload: { orderId, userId: "u-1", valid: false, reason: "user not found" },
  },
  reserved: { type: "inventory.reserved", payload: { orderId, items: priced, total: 3000, currency: "USD" } },
  outOfStock: {
    type: "inventory.reservation.failed",
    payload: { orderId, reason: "out_of_stock", items: [{ productId: "sku-1", requested: 2, available: 0 }] },
  },
  paid: {
    type: "payment.processed",
    payload: { orderId, paymentId: "pay-1", amount: 3000, currency: "USD" },
  },
  declined: {
    type: "payment.failed",
    payload: { orderId, reason: "card declined", code: "declined", transient: false, attempt: 1 },
  },
  shipped: {
    type: "shipping.shipment.prepared",
    payload: { orderId, shipmentId: "shp-1", trackingNumber: "TRK1", carrier: "UPS" },
  },
  shipFailed: {
    type: "shipping.shipment.failed",
    payload: { orderId, reason: "no carrier", transient: false },
  },
  delivered: {
    type: "shipping.shipment.delivered",
    payload: { orderId, shipmentId: "shp-1", deliveredAt: "2025-01-03T00:00:00.000Z" },
  },
} satisfies Record<string, SagaInput>;

export const transientFailure = (attempt: number): SagaInput => ({
  type: "payment.failed",
  payload: { orderId, reason: "provider timeout", code: "timeout", transient: true, attempt },
});

export const placed = () =>
  place({ orderId, userId: "u-1", items, paymentToken: SEALED_TOKEN, correlationId: "corr-1" }, T0);

/** Given the inputs (each decided at T0 + 1 s per step), the state after all of them. */
export function given(...inputs: SagaInput[]): OrderState {
  const events = [...placed().events];
  inputs.forEach((input, i) => {
    const state = foldEvents(events)!;
    events.push(...decide(state, input, T0 + (i + 1) * 1000).events);
  });
  return foldEvents(events)!;
}

export const commandNames = (decision: SagaDecision) => decision.commands.map((c) => c.event);
export const applied = (state: OrderState, decision: SagaDecision): OrderState =>
  decision.events.reduce(evolve, state);
