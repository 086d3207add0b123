/**
 * Events owned (published) by the order service: the saga's facts, the order's event-sourcing events,
 * and the saga's commands and compensations. Commands are owned by `order` even when named after
 * their target service, because the orchestrator writes them atomically with its own state.
 */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  AmountSchema,
  CurrencySchema,
  DurationMsSchema,
  IsoTimestampSchema,
  OrderIdSchema,
  OrderLinesSchema,
  OrderStatusSchema,
  PaymentProcessedSchema,
  PricedReservationSchema,
  ReasonSchema,
  SealedPaymentTokenSchema,
  ShipmentPreparedSchema,
  UserIdSchema,
} from "./common.js";

/** Saga step at which an order failed; `timeout` when a step's deadline passed. */
export const FailureStageSchema = z.enum(["validation", "inventory", "payment", "shipping", "timeout"]);
export type FailureStage = z.infer<typeof FailureStageSchema>;

/** Compensations an order ran, named after their `order.compensation.*` event. */
export const CompensationSchema = z.enum(["inventory.release", "payment.refund", "shipment.cancel"]);
export type Compensation = z.infer<typeof CompensationSchema>;

const compensated = z.array(CompensationSchema).max(3);
const orderRef = { orderId: OrderIdSchema };
const compensation = z.strictObject({ orderId: OrderIdSchema, reason: ReasonSchema });

const facts = {
  "order.placed": {
    description: "Order created (Saga start)",
    // No payment token here: it travels only in `payment.requested`.
    schema: z.strictObject({
      orderId: OrderIdSchema,
      userId: UserIdSchema,
      items: OrderLinesSchema,
      placedAt: IsoTimestampSchema,
    }),
  },
  "order.inventory.reserved": { description: "Inventory reserved", schema: PricedReservationSchema },
  "order.payment.processed": { description: "Payment completed", schema: PaymentProcessedSchema },
  "order.shipment.prepared": { description: "Shipment ready", schema: ShipmentPreparedSchema },
  "order.completed": {
    description: "Order fulfilled (Saga end)",
    schema: z.strictObject({
      ...orderRef,
      userId: UserIdSchema,
      total: AmountSchema,
      currency: CurrencySchema,
      durationMs: DurationMsSchema,
    }),
  },
  "order.delivered": {
    description: "Order delivered to the customer",
    schema: z.strictObject({ ...orderRef, userId: UserIdSchema, deliveredAt: IsoTimestampSchema }),
  },
  "order.failed": {
    description: "Order failed; completed steps were compensated",
    schema: z.strictObject({
      ...orderRef,
      userId: UserIdSchema,
      reason: ReasonSchema,
      stage: FailureStageSchema,
      compensated,
    }),
  },
  "order.cancelled": {
    description: "Order cancelled",
    schema: z.strictObject({ ...orderRef, userId: UserIdSchema, reason: ReasonSchema, compensated }),
  },
  "order.compensation.failed": {
    description:
      "Compensation not confirmed within its window (or refused): the order needs an operator (alert on it)",
    schema: z.strictObject({
      ...orderRef,
      userId: UserIdSchema,
      reason: ReasonSchema,
      pending: z.array(CompensationSchema).min(1).max(3),
    }),
  },
  "order.compensation.resolved": {
    description:
      "A compensation_failed order is consistent again (every compensation confirmed, late): back to failed or cancelled",
    schema: z.strictObject({
      ...orderRef,
      userId: UserIdSchema,
      outcome: z.enum(["failed", "cancelled"]),
      reason: ReasonSchema,
    }),
  },
} as const;

const eventSourcing = {
  "order.event.created": {
    description: "Order stream started (first event of an order's event-sourced history)",
    historyRecord: true,
    schema: z.strictObject({
      orderId: OrderIdSchema,
      userId: UserIdSchema,
      items: OrderLinesSchema,
      placedAt: IsoTimestampSchema,
    }),
  },
  "order.event.status.changed": {
    description: "Order status transition (e.g. pending → reserved)",
    historyRecord: true,
    schema: z
      .strictObject({
        ...orderRef,
        from: OrderStatusSchema,
        to: OrderStatusSchema,
        reason: ReasonSchema.optional(),
      })
      .refine((e) => e.from !== e.to, { message: "from and to must differ", path: ["to"] }),
  },
} as const;

const commands = {
  "user.validation.requested": {
    description: "Saga asks the user service to validate the order's user",
    schema: z.strictObject({ ...orderRef, userId: UserIdSchema }),
  },
  "inventory.reservation.requested": {
    description: "Reservation requested",
    schema: z.strictObject({ ...orderRef, items: OrderLinesSchema }),
  },
  "inventory.commit.requested": {
    description: "Saga asks inventory to deduct the order's reserved stock",
    schema: z.strictObject(orderRef),
  },
  "payment.requested": {
    description: "Payment initiated",
    schema: z.strictObject({
      ...orderRef,
      userId: UserIdSchema,
      amount: AmountSchema,
      currency: CurrencySchema,
      /** Sealed for the payment service: only it can read the token, and only until the saga ends. */
      paymentToken: SealedPaymentTokenSchema,
      attempt: z.number().int().min(1),
    }),
  },
  "shipping.shipment.requested": {
    description: "Saga asks shipping to prepare the order's shipment",
    schema: z.strictObject({ ...orderRef, userId: UserIdSchema, items: OrderLinesSchema }),
  },
  "order.compensation.inventory.release": { description: "Release reserved inventory", schema: compensation },
  "order.compensation.payment.refund": { description: "Refund processed payment", schema: compensation },
  "order.compensation.shipment.cancel": { description: "Cancel prepared shipment", schema: compensation },
} as const;

export const OrderEvents = defineEvents("order", { ...facts, ...eventSourcing, ...commands });

type E = typeof OrderEvents;
export type OrderPlaced = EventPayload<E, "order.placed">;
export type OrderInventoryReserved = EventPayload<E, "order.inventory.reserved">;
export type OrderPaymentProcessed = EventPayload<E, "order.payment.processed">;
export type OrderShipmentPrepared = EventPayload<E, "order.shipment.prepared">;
export type OrderCompleted = EventPayload<E, "order.completed">;
export type OrderDelivered = EventPayload<E, "order.delivered">;
export type OrderFailed = EventPayload<E, "order.failed">;
export type OrderCancelled = EventPayload<E, "order.cancelled">;
export type OrderEventCreated = EventPayload<E, "order.event.created">;
export type OrderEventStatusChanged = EventPayload<E, "order.event.status.changed">;
export type UserValidationRequested = EventPayload<E, "user.validation.requested">;
export type InventoryReservationRequested = EventPayload<E, "inventory.reservation.requested">;
export type InventoryCommitRequested = EventPayload<E, "inventory.commit.requested">;
export type PaymentRequested = EventPayload<E, "payment.requested">;
export type ShippingShipmentRequested = EventPayload<E, "shipping.shipment.requested">;
export type OrderCompensationInventoryRelease = EventPayload<E, "order.compensation.inventory.release">;
export type OrderCompensationPaymentRefund = EventPayload<E, "order.compensation.payment.refund">;
export type OrderCompensationShipmentCancel = EventPayload<E, "order.compensation.shipment.cancel">;
export type OrderCompensationFailed = EventPayload<E, "order.compensation.failed">;
export type OrderCompensationResolved = EventPayload<E, "order.compensation.resolved">;
