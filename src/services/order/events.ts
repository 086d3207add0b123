/**
 * The order's event-sourced history: the events stored in its stream `order-<orderId>`.
 * `created` and `status.changed` have the catalog's exact shapes; three bookkeeping events record
 * what the saga needs to rebuild itself (which steps were requested and until when, what each step
 * produced, which compensations were sent). The payment token travels in the created event's
 * metadata, never in `data`, so the history endpoint and projections cannot leak it.
 */
import { z } from "zod";
import {
  CarrierSchema,
  CompensationSchema,
  CurrencySchema,
  IdSchema,
  IsoTimestampSchema,
  OrderEvents,
  OrderIdSchema,
  PricedOrderLinesSchema,
  ReasonSchema,
} from "../../contracts/index.js";
import type { NewEvent, Projection, StoredEvent } from "../../lib/eventstore/index.js";

export const SagaStepSchema = z.enum(["validation", "inventory", "payment", "shipping"]);
export type SagaStep = z.infer<typeof SagaStepSchema>;

const orderId = OrderIdSchema;

export const StepRequestedSchema = z.strictObject({
  orderId,
  step: SagaStepSchema,
  attempt: z.number().int().min(1),
  /** Epoch ms after which the saga gives up on this step (payment retries keep the first one). */
  deadline: z.number().int().nonnegative(),
});

export const StepCompletedSchema = z.discriminatedUnion("step", [
  z.strictObject({ orderId, step: z.literal("validation") }),
  z.strictObject({
    orderId,
    step: z.literal("inventory"),
    items: PricedOrderLinesSchema,
    total: z.number().int().nonnegative(),
    currency: CurrencySchema,
  }),
  z.strictObject({
    orderId,
    step: z.literal("payment"),
    paymentId: IdSchema,
    amount: z.number().int().nonnegative(),
    currency: CurrencySchema,
  }),
  z.strictObject({
    orderId,
    step: z.literal("shipping"),
    shipmentId: IdSchema,
    trackingNumber: IdSchema,
    carrier: CarrierSchema,
  }),
  z.strictObject({
    orderId,
    step: z.literal("delivery"),
    shipmentId: IdSchema,
    deliveredAt: IsoTimestampSchema,
  }),
]);

export const CompensationRequestedSchema = z.strictObject({
  orderId,
  compensations: z.array(CompensationSchema).min(1).max(3),
  reason: ReasonSchema,
  /**
   * Epoch ms (the saga's clock) by which every compensation must be confirmed, else the order goes to
   * `compensation_failed`. Absent in histories written before compensations were tracked.
   */
  deadline: z.number().int().nonnegative().optional(),
});

/** A compensation's reply arrived: `done` (undone, or nothing to undo) or `refused` (too late). */
export const CompensationSettledSchema = z.strictObject({
  orderId,
  compensation: CompensationSchema,
  outcome: z.enum(["done", "refused"]),
  detail: ReasonSchema,
  /** Compensations of the order still unconfirmed after this one. */
  remaining: z.number().int().min(0).max(3),
});

export const CreatedSchema = OrderEvents["order.event.created"].schema;
export const StatusChangedSchema = OrderEvents["order.event.status.changed"].schema;

/** Metadata of the created event; `paymentToken` is a provider token (tok_...), never card data. */
export const CreatedMetadataSchema = z.object({
  paymentToken: z.string(),
  correlationId: z.string(),
  /** SHA-256 of the request body when the order was placed with an Idempotency-Key. */
  requestHash: z.string().optional(),
  /** W3C trace context of the placing request (tracing on): the order's trace, for timers. */
  traceparent: z.string().optional(),
});
export type CreatedMetadata = z.infer<typeof CreatedMetadataSchema>;

export type OrderDomainEvent =
  | { type: "order.event.created"; data: z.infer<typeof CreatedSchema>; metadata: CreatedMetadata }
  | { type: "order.event.step.requested"; data: z.infer<typeof StepRequestedSchema> }
  | { type: "order.event.step.completed"; data: z.infer<typeof StepCompletedSchema> }
  | { type: "order.event.status.changed"; data: z.infer<typeof StatusChangedSchema> }
  | { type: "order.event.compensation.requested"; data: z.infer<typeof CompensationRequestedSchema> }
  | { type: "order.event.compensation.settled"; data: z.infer<typeof CompensationSettledSchema> };

export type OrderEventType = OrderDomainEvent["type"];
export type StepCompleted = z.infer<typeof StepCompletedSchema>;

const DATA_SCHEMAS: Record<OrderEventType, z.ZodType> = {
  "order.event.created": CreatedSchema,
  "order.event.step.requested": StepRequestedSchema,
  "order.event.step.completed": StepCompletedSchema,
  "order.event.status.changed": StatusChangedSchema,
  "order.event.compensation.requested": CompensationRequestedSchema,
  "order.event.compensation.settled": CompensationSettledSchema,
};

export const isOrderEventType = (type: string): type is OrderEventType => type in DATA_SCHEMAS;

/** The event store form of a domain event. */
export function toNewEvent(event: OrderDomainEvent): NewEvent {
  return event.type === "order.event.created"
    ? { type: event.type, data: event.data, metadata: stringMetadata(event.metadata) }
    : { type: event.type, data: event.data };
}

function stringMetadata(metadata: CreatedMetadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) if (value !== undefined) out[key] = value;
  return out;
}

/**
 * A stored event back as a typed domain event; undefined for a type this version does not know
 * (skipped by the fold, so a newer writer's extra bookkeeping does not break an older reader).
 * Data that no longer matches its schema is a corrupted history: that throws.
 */
export function fromStoredEvent(
  stored: Pick<StoredEvent, "type" | "data" | "metadata">,
): OrderDomainEvent | undefined {
  if (!isOrderEventType(stored.type)) return undefined;
  // One stored event read back is folded by the state and by each inline projection: validated once.
  if (decoded.has(stored)) return decoded.get(stored);
  const event = decodeStored(stored);
  decoded.set(stored, event);
  return event;
}

/** Decoded stored events (stored events are immutable), for as long as the stored object lives. */
const decoded = new WeakMap<object, OrderDomainEvent>();

function decodeStored(stored: Pick<StoredEvent, "type" | "data" | "metadata">): OrderDomainEvent {
  if (!isOrderEventType(stored.type)) throw new Error(`not an order event: ${stored.type}`);
  const data: unknown = DATA_SCHEMAS[stored.type].parse(stored.data);
  if (stored.type === "order.event.created") {
    return {
      type: stored.type,
      data,
      metadata: CreatedMetadataSchema.parse(stored.metadata),
    } as OrderDomainEvent;
  }
  return { type: stored.type, data } as OrderDomainEvent;
}

/**
 * A projection of order streams that folds an event from its decoded form: `applyEvent` gets the
 * domain event (undefined for a type this version does not know) with the stored event it is the
 * form of (its version, time, stream). `apply` (the projection runner's, a fold of events read
 * back) decodes with `fromStoredEvent`; an append's inline fold (`OrderRepository.save`) hands it
 * the events the saga just decided, so they are not parsed back from the JSON this process has
 * just encoded from them.
 */
export interface OrderProjection<V> extends Projection<V> {
  applyEvent(view: V | undefined, event: OrderDomainEvent | undefined, stored: StoredEvent): V;
}

/** An order projection from its name, `keyOf` and `applyEvent`; `apply` decodes the stored event. */
export function orderProjection<V>(
  definition: Pick<OrderProjection<V>, "name" | "keyOf" | "applyEvent">,
): OrderProjection<V> {
  const { name, keyOf, applyEvent } = definition;
  return {
    name,
    keyOf,
    applyEvent,
    apply: (view, stored) => applyEvent(view, fromStoredEvent(stored), stored),
  };
}
