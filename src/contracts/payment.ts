/**
 * Events owned (published) by the payment service. `payment.requested` is a saga command, so it is
 * owned by `order` and defined in `order.ts`.
 */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  AmountSchema,
  CompensationSkippedSchema,
  CurrencySchema,
  IdSchema,
  OrderIdSchema,
  PaymentProcessedSchema,
  ReasonSchema,
} from "./common.js";

/** Why a charge failed; `declined` is final, the others may succeed on a later attempt. */
export const PaymentFailureCodeSchema = z.enum(["declined", "provider_error", "timeout", "circuit_open"]);
export type PaymentFailureCode = z.infer<typeof PaymentFailureCodeSchema>;

export const PaymentEvents = defineEvents("payment", {
  "payment.processed": { description: "Payment completed", schema: PaymentProcessedSchema },
  "payment.failed": {
    description: "Payment failed",
    schema: z.strictObject({
      orderId: OrderIdSchema,
      reason: ReasonSchema,
      code: PaymentFailureCodeSchema,
      transient: z.boolean(),
      attempt: z.number().int().min(1),
    }),
  },
  "payment.refund.requested": {
    description: "Refund initiated",
    schema: z.strictObject({
      orderId: OrderIdSchema,
      paymentId: IdSchema,
      amount: AmountSchema,
      currency: CurrencySchema,
    }),
  },
  "payment.refunded": {
    description: "Refund completed",
    schema: z.strictObject({
      orderId: OrderIdSchema,
      paymentId: IdSchema,
      refundId: IdSchema,
      amount: AmountSchema,
      currency: CurrencySchema,
    }),
  },
  "payment.refund.skipped": {
    description: "Refund compensation changed nothing (already refunded, nothing charged, or refused)",
    schema: CompensationSkippedSchema,
  },
});

type E = typeof PaymentEvents;
export type PaymentProcessed = EventPayload<E, "payment.processed">;
export type PaymentFailed = EventPayload<E, "payment.failed">;
export type PaymentRefundRequested = EventPayload<E, "payment.refund.requested">;
export type PaymentRefunded = EventPayload<E, "payment.refunded">;
export type PaymentRefundSkipped = EventPayload<E, "payment.refund.skipped">;
