/**
 * One valid sample payload per catalog event, for tests here and in services. The mapped type makes
 * adding an event without a sample a compile error.
 */
import type { AllEventName, AnyEventInput } from "./catalog.js";

/** The shape of a sealed payment token (payment-token.ts); not openable: its key entry never existed. */
export const SEALED_TOKEN = `enc1.0123456789ab-ptk-fixture.${"A".repeat(56)}`;

/** The shape of a user's sealed email and phone (user-data.ts); not openable by any key. */
export const SEALED_EMAIL = `enc1.udk-fixture.${"B".repeat(64)}`;
export const SEALED_PHONE = `enc1.udk-fixture.${"C".repeat(48)}`;

export type EventFixtures = { readonly [N in AllEventName]: AnyEventInput<N> };

const orderId = "0190b2a4-6f1e-7c3a-9d2b-1a2b3c4d5e6f";
const userId = "u-42";
const at = "2025-01-02T03:04:05.678Z";
const later = "2025-01-02T03:05:05.678Z";
const items = [
  { productId: "sku-1", quantity: 2 },
  { productId: "sku-2", quantity: 1 },
];
const priced = [
  { productId: "sku-1", quantity: 2, unitPrice: 1250 },
  { productId: "sku-2", quantity: 1, unitPrice: 500 },
];
const preferences = { email: true, push: false, sms: true };
const stats = { count: 12, durationMs: { p50: 3, p99: 40.5, max: 52 }, windowStart: at, windowEnd: later };

export const eventFixtures: EventFixtures = {
  // user
  "user.created": {
    userId,
    email: SEALED_EMAIL,
    name: "Ada Lovelace",
    phone: SEALED_PHONE,
    preferences,
    version: 1,
  },
  "user.updated": {
    userId,
    email: SEALED_EMAIL,
    name: "Ada",
    preferences,
    changed: ["email", "name"],
    version: 2,
  },
  "user.deleted": { userId },
  "user.validated": { orderId, userId, valid: false, reason: "user not found" },
  // order: facts
  "order.placed": { orderId, userId, items, placedAt: at },
  "order.inventory.reserved": { orderId, items: priced, total: 3000, currency: "USD" },
  "order.payment.processed": { orderId, paymentId: "pay_1", amount: 3000 },
  "order.shipment.prepared": { orderId, shipmentId: "shp_1", trackingNumber: "1Z999AA1", carrier: "UPS" },
  "order.completed": { orderId, userId, total: 3000, currency: "EUR", durationMs: 1234 },
  "order.delivered": { orderId, userId, deliveredAt: later },
  "order.failed": {
    orderId,
    userId,
    reason: "card declined",
    stage: "payment",
    compensated: ["inventory.release"],
  },
  "order.cancelled": { orderId, userId, reason: "customer request", compensated: [] },
  "order.compensation.resolved": {
    orderId,
    userId,
    outcome: "failed",
    reason: "compensations settled late: every compensation was confirmed after its window",
  },
  "order.compensation.failed": {
    orderId,
    userId,
    reason: "compensation not confirmed within 6 h",
    pending: ["payment.refund"],
  },
  // order: event sourcing
  "order.event.created": { orderId, userId, items, placedAt: at },
  "order.event.status.changed": { orderId, from: "pending", to: "reserved" },
  // order: saga commands and compensations
  "user.validation.requested": { orderId, userId },
  "inventory.reservation.requested": { orderId, items },
  "inventory.commit.requested": { orderId },
  "payment.requested": {
    orderId,
    userId,
    amount: 3000,
    currency: "USD",
    paymentToken: SEALED_TOKEN,
    attempt: 1,
  },
  "shipping.shipment.requested": { orderId, userId, items },
  "order.compensation.inventory.release": { orderId, reason: "payment failed" },
  "order.compensation.payment.refund": { orderId, reason: "shipping failed" },
  "order.compensation.shipment.cancel": { orderId, reason: "saga timeout" },
  // inventory
  "inventory.reserved": { orderId, items: priced, total: 3000 },
  "inventory.reservation.failed": {
    orderId,
    reason: "out_of_stock",
    items: [{ productId: "sku-1", requested: 2, available: 0 }],
  },
  "inventory.released": { orderId, items },
  "inventory.release.skipped": { orderId, outcome: "nothing_to_undo", reason: "nothing reserved" },
  "inventory.committed": { orderId, items },
  "inventory.lowStock": { productId: "sku-1", available: 3, threshold: 5 },
  "inventory.product.added": {
    productId: "sku-3",
    name: "Widget",
    price: 999,
    quantity: 0,
    lowStockThreshold: 2,
  },
  "inventory.restocked": { productId: "sku-1", quantity: 10, available: 13 },
  // payment
  "payment.processed": { orderId, paymentId: "pay_1", amount: 3000, currency: "USD" },
  "payment.failed": { orderId, reason: "provider timed out", code: "timeout", transient: true, attempt: 2 },
  "payment.refund.requested": { orderId, paymentId: "pay_1", amount: 3000 },
  "payment.refunded": { orderId, paymentId: "pay_1", refundId: "ref_1", amount: 3000, currency: "USD" },
  "payment.refund.skipped": { orderId, outcome: "already_done", reason: "payment refunded" },
  // shipping
  "shipping.shipment.prepared": { orderId, shipmentId: "shp_1", trackingNumber: "1Z999AA1", carrier: "UPS" },
  "shipping.shipment.failed": { orderId, reason: "carrier unavailable", transient: true },
  "shipping.shipment.cancelled": { orderId, shipmentId: "shp_1" },
  "shipping.shipment.cancel.skipped": { orderId, outcome: "too_late", reason: "shipment delivered" },
  "shipping.shipment.delivered": { orderId, shipmentId: "shp_1", deliveredAt: later },
  // notification
  "notification.sent": {
    notificationId: "n-1",
    userId,
    channel: "email",
    template: "order.completed",
    orderId,
    sentAt: at,
  },
  "notification.failed": { notificationId: "n-2", userId, channel: "sms", reason: "no phone number" },
  // discovery
  "service.registered": {
    service: "inventory",
    instanceId: "inventory-1",
    address: "127.0.0.1",
    port: 3003,
    version: "0.1.0",
    startedAt: at,
  },
  "service.deregistered": { service: "inventory", instanceId: "inventory-1", reason: "health_check_failed" },
  "service.heartbeat": { service: "inventory", instanceId: "inventory-1", at },
  "service.health.status": {
    service: "inventory",
    instanceId: "inventory-1",
    status: "unhealthy",
    consecutiveFailures: 3,
    checkedAt: at,
    detail: "ECONNREFUSED",
  },
  // metrics
  "metrics.event.processed": { service: "order", event: "inventory.lowStock", outcome: "success", ...stats },
  "metrics.circuit.breaker.state": {
    service: "payment",
    breaker: "payment-provider",
    from: "CLOSED",
    to: "OPEN",
    at,
  },
  "metrics.saga.completed": { service: "order", outcome: "completed", ...stats },
};
