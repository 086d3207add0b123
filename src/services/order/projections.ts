/**
 * The read side, as pure projections of the event store's global log:
 * - `orderViewProjection`: the order as clients read it (`GET /orders/:id`).
 * - `deadlineProjection`: the step deadline of every order whose saga is running, which the
 *   sweeper scans. Because it is a checkpointed projection of durable events, deadlines survive a
 *   crash of every order instance.
 */
import type { OrderStatus } from "../../contracts/index.js";
import type { StoredEvent } from "../../lib/eventstore/index.js";
import { fromStoredEvent, type OrderDomainEvent, type OrderProjection, orderProjection } from "./events.js";
import { orderIdOfStream } from "./keys.js";
import { SAGA_OVER } from "./state.js";

export interface OrderViewLine {
  productId: string;
  quantity: number;
  /** Null until inventory priced the order (prices never come from the client). */
  unitPrice: number | null;
}

export interface OrderView {
  id: string;
  userId: string;
  items: OrderViewLine[];
  /** Null until inventory priced the order. */
  total: number | null;
  /** "USD" until inventory priced the order in its currency. */
  currency: string;
  status: OrderStatus;
  createdAt: string;
  updatedAt: string;
  /** Events of the order's stream this view reflects (lets a reader tell a stale view). */
  version: number;
}

export function applyToView(view: OrderView | undefined, stored: StoredEvent): OrderView {
  return applyEventToView(view, fromStoredEvent(stored), stored);
}

function applyEventToView(
  view: OrderView | undefined,
  event: OrderDomainEvent | undefined,
  stored: StoredEvent,
): OrderView {
  if (event?.type === "order.event.created") {
    const { orderId, userId, items, placedAt } = event.data;
    const lines = items.map((line) => ({ ...line, unitPrice: null }));
    return {
      id: orderId,
      userId,
      items: lines,
      total: null,
      currency: "USD",
      status: "pending",
      createdAt: placedAt,
      updatedAt: stored.recordedAt,
      version: stored.version,
    };
  }
  if (!view) throw new Error(`order view of ${stored.streamId} starts with ${stored.type}`);
  const next = { ...view, updatedAt: stored.recordedAt, version: stored.version };
  if (event?.type === "order.event.status.changed") return { ...next, status: event.data.to };
  if (event?.type === "order.event.step.completed" && event.data.step === "inventory") {
    const { items, total, currency } = event.data;
    return { ...next, items: items.map((line) => ({ ...line })), total, currency };
  }
  return next;
}

/** Bump the name when `applyToView` changes meaning, then rebuild. */
export const orderViewProjection: OrderProjection<OrderView> = orderProjection({
  name: "order-view-v1",
  keyOf: (event) => orderIdOfStream(event.streamId),
  applyEvent: applyEventToView,
});

/** Deadline of an order's current step; `null` once no step is awaited (the index drops it). */
export interface DeadlineView {
  deadline: number | null;
}

/**
 * A step's deadline while a step is awaited; then, for a failed or cancelled order, the deadline of
 * its compensations until the last one is confirmed.
 */
export function applyToDeadline(view: DeadlineView | undefined, stored: StoredEvent): DeadlineView {
  return applyEventToDeadline(view, fromStoredEvent(stored));
}

function applyEventToDeadline(
  view: DeadlineView | undefined,
  event: OrderDomainEvent | undefined,
): DeadlineView {
  if (event?.type === "order.event.step.requested") return { deadline: event.data.deadline };
  if (event?.type === "order.event.status.changed" && SAGA_OVER.has(event.data.to)) return { deadline: null };
  if (event?.type === "order.event.compensation.requested" && event.data.deadline !== undefined)
    return { deadline: event.data.deadline };
  if (event?.type === "order.event.compensation.settled" && event.data.remaining === 0)
    return { deadline: null };
  return view ?? { deadline: null };
}

const DEADLINE_EVENTS: ReadonlySet<string> = new Set([
  "order.event.step.requested",
  "order.event.status.changed",
  "order.event.compensation.requested",
  "order.event.compensation.settled",
]);

export const deadlineProjection: OrderProjection<DeadlineView> = orderProjection({
  name: "order-deadlines-v1",
  keyOf: (event) => (DEADLINE_EVENTS.has(event.type) ? orderIdOfStream(event.streamId) : undefined),
  applyEvent: applyEventToDeadline,
});

/** Statuses a saga ends in (`SagaDecision.outcome`): its payment token is never needed again. */
const SAGA_ENDED: ReadonlySet<OrderStatus> = new Set(["shipped", "failed", "cancelled"]);

/**
 * A shred intent: the order's token key is to be deleted; `endedAt` is when its saga ended (epoch
 * ms), null for a status change that did not end it (nothing is written for it).
 */
export interface ShredIntentView {
  endedAt: number | null;
}

/**
 * The durable shred intent (outbox of the token key's delete): written by the very append that ends
 * the saga, so no crash between the terminal event and the delete can lose it. Only the shred
 * sweeper removes intents (after the delete succeeded); the projection only adds them. Keyed by
 * type alone (the event is decoded in `applyEvent`, from the decided event on a save).
 */
export const shredIntentProjection: OrderProjection<ShredIntentView> = orderProjection({
  name: "order-shred-intents-v1",
  keyOf: (stored) =>
    stored.type === "order.event.status.changed" ? orderIdOfStream(stored.streamId) : undefined,
  applyEvent: (_view, event, stored) => ({
    endedAt:
      event?.type === "order.event.status.changed" && SAGA_ENDED.has(event.data.to)
        ? Date.parse(stored.recordedAt)
        : null,
  }),
});
