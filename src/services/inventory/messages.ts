/**
 * The events each decision emits, built (validated and encoded) without sending, so a store can
 * write them together with the state change. `prepare` is a handler's `ctx.prepare` (correlation
 * and causation carried on) or the service publisher's for HTTP-driven changes.
 */
import type { AllEvents } from "../../contracts/index.js";
import type { CausalPublisher } from "../../lib/bus/context.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { OrderLine, Product, ReservationOutcome } from "./domain.js";

export type Prepare = CausalPublisher<typeof AllEvents>["prepare"];

export function reservationMessages(
  prepare: Prepare,
  orderId: string,
  outcome: ReservationOutcome,
): OutgoingMessage[] {
  if (outcome.kind === "failed") {
    const failed = { orderId, reason: outcome.reason, items: outcome.items };
    return [prepare("inventory.reservation.failed", failed).message];
  }
  const reserved = { orderId, items: outcome.items, total: outcome.total, currency: "USD" };
  return [
    prepare("inventory.reserved", reserved).message,
    ...outcome.lowStock.map((alert) => prepare("inventory.lowStock", alert).message),
  ];
}

export const releasedMessages = (
  prepare: Prepare,
  orderId: string,
  items: OrderLine[],
): OutgoingMessage[] => [prepare("inventory.released", { orderId, items }).message];

export const committedMessages = (
  prepare: Prepare,
  orderId: string,
  items: OrderLine[],
): OutgoingMessage[] => [prepare("inventory.committed", { orderId, items }).message];

export const productAddedMessages = (prepare: Prepare, product: Product): OutgoingMessage[] => [
  prepare("inventory.product.added", {
    productId: product.productId,
    name: product.name,
    price: product.price,
    quantity: product.available,
    lowStockThreshold: product.lowStockThreshold,
  }).message,
];

export const restockedMessages = (
  prepare: Prepare,
  product: Product,
  quantity: number,
): OutgoingMessage[] => [
  prepare("inventory.restocked", { productId: product.productId, quantity, available: product.available })
    .message,
];
