/**
 * Shared Zod building blocks of the event catalog and the gateway's HTTP bodies.
 * Payload objects are `z.strictObject`: an unknown field is almost always a typo or a leak (e.g. a
 * payment token in the wrong event), so it is rejected rather than silently dropped.
 */
import { z } from "zod";

/**
 * Any identifier (order, user, product, payment, instance...). Visible ASCII only: ids end up in
 * Redis keys and log lines, where whitespace and control characters cause subtle bugs.
 */
export const IdSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[!-~]+$/, "must be visible ASCII without spaces");

export const OrderIdSchema = IdSchema;
export const UserIdSchema = IdSchema;
export const ProductIdSchema = IdSchema;

/** An ISO-8601 timestamp such as `new Date().toISOString()` produces (an offset is also accepted). */
export const IsoTimestampSchema = z.iso.datetime({ offset: true });

/** Money in integer minor units (cents), so sums never suffer floating-point drift. */
export const AmountSchema = z.number().int().nonnegative();

/** ISO-4217 code, upper case; defaults to USD so publishers may omit it. */
export const CurrencySchema = z
  .string()
  .length(3)
  .regex(/^[A-Z]{3}$/, "must be an upper-case ISO-4217 code")
  .default("USD");

export const QuantitySchema = z.number().int().positive();
/** Stock levels and thresholds: zero is a legitimate value. */
export const StockLevelSchema = z.number().int().nonnegative();
export const DurationMsSchema = z.number().nonnegative().finite();

/** Free-text reason for a failure or compensation, bounded so it cannot bloat a stream entry. */
export const ReasonSchema = z.string().min(1).max(500);

export const MAX_ORDER_LINES = 100;

/**
 * Documented maxima at the edge, so no total or stock level can leave the safe-integer range the
 * event schemas accept (an order could otherwise be accepted whose reply cannot be built):
 * a unit price of at most $10 000 000.00, stock levels and quantities of at most one billion, and
 * an order total (priced by inventory) of at most `DEFAULT_MAX_ORDER_TOTAL_CENTS` unless configured
 * (`MAX_ORDER_TOTAL_CENTS`, itself at most `Number.MAX_SAFE_INTEGER`).
 */
export const MAX_PRICE_CENTS = 1_000_000_000;
export const MAX_STOCK_LEVEL = 1_000_000_000;
/** $1 000 000 000.00. */
export const DEFAULT_MAX_ORDER_TOTAL_CENTS = 100_000_000_000;

/**
 * How a compensation ended without an effect of its own: `already_done` (a duplicate), `nothing_to_undo`
 * (the step it undoes never took effect: a tombstone now makes a late request a no-op), `too_late`
 * (the step is past its point of no return, e.g. a delivered shipment: a refusal the saga must handle).
 */
export const CompensationSkipOutcomeSchema = z.enum(["already_done", "nothing_to_undo", "too_late"]);
export type CompensationSkipOutcome = z.infer<typeof CompensationSkipOutcomeSchema>;

/** The reply to a compensation that changed nothing (the `*.skipped` events). */
export const CompensationSkippedSchema = z.strictObject({
  orderId: OrderIdSchema,
  outcome: CompensationSkipOutcomeSchema,
  reason: ReasonSchema,
});

export const OrderLineSchema = z.strictObject({
  productId: ProductIdSchema,
  quantity: QuantitySchema,
});

/** A line once inventory has priced it. */
export const PricedOrderLineSchema = z.strictObject({
  productId: ProductIdSchema,
  quantity: QuantitySchema,
  unitPrice: AmountSchema,
});

const hasUniqueProducts = (lines: readonly { productId: string }[]): boolean =>
  new Set(lines.map((l) => l.productId)).size === lines.length;

/** 1..100 lines, one per product: a product listed twice would be reserved twice. */
export const OrderLinesSchema = z
  .array(OrderLineSchema)
  .min(1)
  .max(MAX_ORDER_LINES)
  .refine(hasUniqueProducts, "productId must be unique across lines");

export const PricedOrderLinesSchema = z
  .array(PricedOrderLineSchema)
  .min(1)
  .max(MAX_ORDER_LINES)
  .refine(hasUniqueProducts, "productId must be unique across lines");

/** Total of priced lines; the reservation events must agree with it. */
export const linesTotal = (lines: readonly { quantity: number; unitPrice: number }[]): number =>
  lines.reduce((sum, line) => sum + line.quantity * line.unitPrice, 0);

export const OrderStatusSchema = z.enum([
  "pending",
  "reserved",
  "paid",
  "shipped",
  "delivered",
  "cancelled",
  "failed",
  "compensation_failed",
]);
export type OrderStatus = z.infer<typeof OrderStatusSchema>;

/**
 * A provider token (`tok_ok`, `tok_decline`...), never card data: the pattern rejects anything that
 * looks like a card number, so card data cannot travel on the bus even by mistake.
 */
export const PaymentTokenSchema = z
  .string()
  .regex(/^tok_[A-Za-z0-9_]{1,60}$/, "must be a provider token like tok_ok, never card data");

/**
 * A provider token sealed for the payment service (src/lib/security/payment-token.ts): AES-256-GCM
 * under a per-order data key only the payment service can derive, deleted when the saga ends.
 * `enc1.<seal id>-<payment key id>.<base64url nonce, ciphertext and tag>`; never the token itself.
 */
export const SealedPaymentTokenSchema = z
  .string()
  .max(400)
  .regex(
    /^enc1\.[0-9a-f]{12}-[A-Za-z0-9_-]{1,19}\.[A-Za-z0-9_-]{40,}$/,
    "must be a payment token sealed for the payment service (enc1.…), never a token or card data",
  );

/**
 * A user's email or phone sealed for the user and notification services
 * (src/lib/security/user-data.ts): AES-256-GCM, `enc1.<key id>.<base64url nonce, ciphertext and
 * tag>`; never the value itself (a clear email or phone number does not match).
 */
export const SealedContactSchema = z
  .string()
  .max(500)
  .regex(
    /^enc1\.[A-Za-z0-9_-]{1,32}\.[A-Za-z0-9_-]{38,}$/,
    "must be sealed for the user and notification services (enc1.…), never the value in clear",
  );

export const NotificationChannelSchema = z.enum(["email", "push", "sms"]);
export type NotificationChannel = z.infer<typeof NotificationChannelSchema>;

export const NotificationPreferencesSchema = z.strictObject({
  email: z.boolean(),
  push: z.boolean(),
  sms: z.boolean(),
});
export type NotificationPreferences = z.infer<typeof NotificationPreferencesSchema>;

export const EmailSchema = z.email().max(254);
export const PersonNameSchema = z.string().trim().min(1).max(200);
/** Loose international format: digits with optional `+`, spaces, dots, dashes, parentheses. */
export const PhoneSchema = z
  .string()
  .trim()
  .min(5)
  .max(32)
  .regex(/^\+?[0-9][0-9 ().-]*$/, "must be a phone number");

/** Logical service name (`order`, `inventory`, `gateway`...). */
export const ServiceNameSchema = z
  .string()
  .min(1)
  .max(50)
  .regex(/^[a-z][a-z0-9-]*$/, "must be a lower-case service name");

/** Same shape as the catalog's names; used where an event name travels as data (metrics). */
export const EVENT_NAME_PATTERN = /^[a-z]+(\.[a-zA-Z]+)+$/;
export const EventNameSchema = z.string().max(100).regex(EVENT_NAME_PATTERN, "must be an event name");

/** Latency summary of an aggregation window. */
export const DurationSummarySchema = z
  .strictObject({ p50: DurationMsSchema, p99: DurationMsSchema, max: DurationMsSchema })
  .refine((d) => d.p50 <= d.p99 && d.p99 <= d.max, "expected p50 <= p99 <= max");

/**
 * Priced reservation of an order's lines (`inventory.reserved`, mirrored by `order.inventory.reserved`).
 * The total must equal the sum of the lines, so a pricing bug cannot reach the payment step.
 */
export const PricedReservationSchema = z
  .strictObject({
    orderId: OrderIdSchema,
    items: PricedOrderLinesSchema,
    total: AmountSchema,
    currency: CurrencySchema,
  })
  .refine((r) => r.total === linesTotal(r.items), {
    message: "total must equal the sum of quantity * unitPrice",
    path: ["total"],
  });

/** A captured payment (`payment.processed`, mirrored by `order.payment.processed`). */
export const PaymentProcessedSchema = z.strictObject({
  orderId: OrderIdSchema,
  paymentId: IdSchema,
  amount: AmountSchema,
  currency: CurrencySchema,
});

export const CarrierSchema = z.string().min(1).max(100);

/** A prepared shipment (`shipping.shipment.prepared`, mirrored by `order.shipment.prepared`). */
export const ShipmentPreparedSchema = z.strictObject({
  orderId: OrderIdSchema,
  shipmentId: IdSchema,
  trackingNumber: IdSchema,
  carrier: CarrierSchema,
});
