/**
 * The saga's state of one order: a pure fold (`evolve`) over its stored events. Nothing here reads
 * a clock or a store: the same history always gives the same state.
 */
import type { Compensation, OrderStatus } from "../../contracts/index.js";
import type { StoredEvent } from "../../lib/eventstore/index.js";
import { fromStoredEvent, type OrderDomainEvent, type SagaStep } from "./events.js";

export interface OrderLine {
  productId: string;
  quantity: number;
}

export interface PricedLine extends OrderLine {
  unitPrice: number;
}

export interface OrderState {
  orderId: string;
  userId: string;
  items: OrderLine[];
  /** ISO time the order was placed (the saga's start). */
  placedAt: string;
  paymentToken: string;
  /** Correlation id of the saga: every message about this order carries it. */
  correlationId: string;
  /** Trace context of the placing request (when tracing was on): the order's one trace. */
  traceparent?: string;
  status: OrderStatus;
  /** Steps whose command was sent, in the order they were sent (each at most once). */
  requested: SagaStep[];
  /** The step the saga waits for; undefined once the saga is over. */
  awaiting: SagaStep | undefined;
  /** Epoch ms deadline of `awaiting`. */
  deadline: number | undefined;
  paymentAttempt: number;
  pricing?: { items: PricedLine[]; total: number; currency: string };
  payment?: { paymentId: string; amount: number; currency: string };
  shipment?: { shipmentId: string; trackingNumber: string; carrier: string };
  deliveredAt?: string;
  /** Compensations sent (each at most once). */
  compensated: Compensation[];
  /** Compensations whose reply arrived (confirmed or refused). */
  settled: Compensation[];
  /** Epoch ms by which every compensation must be confirmed (the saga's clock). */
  compensationDeadline?: number;
  /** True once a compensation was refused (`too_late`): only an operator can make the order consistent. */
  refused?: boolean;
  /** The status (`failed`/`cancelled`) the order had when it moved to `compensation_failed`. */
  flaggedFrom?: OrderStatus;
}

export class CorruptHistoryError extends Error {
  readonly code = "ORDER_HISTORY_CORRUPT";
  readonly retryable = false;
  constructor(message: string) {
    super(message);
    this.name = "CorruptHistoryError";
  }
}

/**
 * Statuses after which the saga awaits no step (a shipped order only waits for delivery; a failed or
 * cancelled one only for its compensations' replies, tracked apart).
 */
export const SAGA_OVER: ReadonlySet<OrderStatus> = new Set([
  "shipped",
  "delivered",
  "failed",
  "cancelled",
  "compensation_failed",
]);

/** Compensations sent whose reply has not arrived yet. */
export const pendingCompensations = (state: OrderState): Compensation[] =>
  state.compensated.filter((c) => !state.settled.includes(c));

/**
 * True when the saga expects no further event for the order: delivered, or failed/cancelled with
 * every compensation's reply in, or `compensation_failed` (an operator's case). A shipped order
 * still waits for its delivery. Anything that comes later (a duplicate, an operator's retry) is rare.
 */
export const sagaSettled = (state: OrderState): boolean => {
  if (state.status === "delivered" || state.status === "compensation_failed") return true;
  if (state.status === "failed" || state.status === "cancelled")
    return pendingCompensations(state).length === 0;
  return false;
};

export function evolve(state: OrderState | undefined, event: OrderDomainEvent): OrderState {
  if (event.type === "order.event.created") {
    if (state) throw new CorruptHistoryError(`order ${event.data.orderId} created twice`);
    return {
      ...event.data,
      items: event.data.items.map((line) => ({ ...line })),
      paymentToken: event.metadata.paymentToken,
      correlationId: event.metadata.correlationId,
      ...(event.metadata.traceparent ? { traceparent: event.metadata.traceparent } : {}),
      status: "pending",
      requested: [],
      awaiting: undefined,
      deadline: undefined,
      paymentAttempt: 0,
      compensated: [],
      settled: [],
    };
  }
  if (!state) throw new CorruptHistoryError(`${event.type} before order.event.created`);
  switch (event.type) {
    case "order.event.step.requested": {
      const { step, attempt, deadline } = event.data;
      const requested = state.requested.includes(step) ? state.requested : [...state.requested, step];
      const paymentAttempt = step === "payment" ? attempt : state.paymentAttempt;
      return { ...state, requested, awaiting: step, deadline, paymentAttempt };
    }
    case "order.event.step.completed":
      return completeStep(state, event.data);
    case "order.event.status.changed": {
      const over = SAGA_OVER.has(event.data.to);
      return {
        ...state,
        status: event.data.to,
        ...(over ? { awaiting: undefined, deadline: undefined } : {}),
        ...(event.data.to === "compensation_failed" ? { flaggedFrom: event.data.from } : {}),
      };
    }
    case "order.event.compensation.requested": {
      const { compensations, deadline } = event.data;
      const compensated = [...state.compensated, ...compensations];
      return { ...state, compensated, ...(deadline === undefined ? {} : { compensationDeadline: deadline }) };
    }
    case "order.event.compensation.settled":
      return {
        ...state,
        settled: [...state.settled, event.data.compensation],
        ...(event.data.outcome === "refused" ? { refused: true } : {}),
      };
  }
}

function completeStep(
  state: OrderState,
  data: Extract<OrderDomainEvent, { type: "order.event.step.completed" }>["data"],
): OrderState {
  switch (data.step) {
    case "validation":
      return state;
    case "inventory":
      return { ...state, pricing: { items: data.items, total: data.total, currency: data.currency } };
    case "payment":
      return {
        ...state,
        payment: { paymentId: data.paymentId, amount: data.amount, currency: data.currency },
      };
    case "shipping":
      return {
        ...state,
        shipment: { shipmentId: data.shipmentId, trackingNumber: data.trackingNumber, carrier: data.carrier },
      };
    case "delivery":
      return { ...state, deliveredAt: data.deliveredAt };
  }
}

/** Folds domain events (oldest first); undefined when there are none. */
export function foldEvents(events: readonly OrderDomainEvent[]): OrderState | undefined {
  return events.reduce<OrderState | undefined>(evolve, undefined);
}

/** Folds a stream as read from the event store, skipping event types this version does not know. */
export function foldStored(
  events: readonly Pick<StoredEvent, "type" | "data" | "metadata">[],
): OrderState | undefined {
  let state: OrderState | undefined;
  for (const stored of events) {
    const event = fromStoredEvent(stored);
    if (event) state = evolve(state, event);
  }
  return state;
}
