/**
 * The saga's vocabulary: its inputs, the commands it sends, a decision, its options, and the
 * small builders every decision uses. Pure, like the saga.
 */
import type {
  AllEventName,
  AnyEventInput,
  Compensation,
  InventoryReservationFailed,
  InventoryReserved,
  PaymentFailed,
  PaymentProcessed,
  ShippingShipmentDelivered,
  ShippingShipmentFailed,
  ShippingShipmentPrepared,
  UserValidated,
} from "../../contracts/index.js";
import type { OrderDomainEvent } from "./events.js";
import type { OrderLine, OrderState } from "./state.js";

/** Bus messages the saga sends: the order service's facts, commands and compensations. */
export type SagaCommandName =
  | Exclude<Extract<AllEventName, `order.${string}`>, `order.event.${string}`>
  | "user.validation.requested"
  | "inventory.reservation.requested"
  | "inventory.commit.requested"
  | "payment.requested"
  | "shipping.shipment.requested";
export type SagaCommand = {
  [N in SagaCommandName]: { event: N; payload: AnyEventInput<N> };
}[SagaCommandName];

export type SagaInput =
  | { type: "user.validated"; payload: UserValidated }
  | { type: "inventory.reserved"; payload: InventoryReserved }
  | { type: "inventory.reservation.failed"; payload: InventoryReservationFailed }
  | { type: "payment.processed"; payload: PaymentProcessed }
  | { type: "payment.failed"; payload: PaymentFailed }
  | { type: "shipping.shipment.prepared"; payload: ShippingShipmentPrepared }
  | { type: "shipping.shipment.failed"; payload: ShippingShipmentFailed }
  | { type: "shipping.shipment.delivered"; payload: ShippingShipmentDelivered }
  | { type: "compensation.settled"; compensation: Compensation; outcome: "done" | "refused"; detail: string }
  | { type: "cancel"; reason?: string }
  | { type: "timeout" };

export type SagaOutcome = "completed" | "failed" | "cancelled";

export interface SagaDecision {
  events: OrderDomainEvent[];
  commands: SagaCommand[];
  /** Set when this decision ends the saga (for metrics). */
  outcome?: { saga: SagaOutcome; durationMs: number };
  /** The input is refused (only a user's cancel can be). */
  rejected?: { code: "ORDER_NOT_CANCELLABLE"; message: string };
  /** The input came before the step it follows: try it again later rather than drop it. */
  defer?: string;
  /** Set when this decision moves the order to `compensation_failed` (for the alerting metric). */
  compensationFailed?: boolean;
}

export interface SagaOptions {
  /**
   * Time each step (validation, inventory, payment with its retries, shipping) may take, in ms.
   * Must exceed the bus's takeover time of a dead consumer's messages (`CLAIM_IDLE_MS`: 30 s today,
   * 5 s once leases are renewed) plus processing (10 s: `STEP_PROCESSING_BUDGET_MS`), or a `kill -9`
   * of one instance fails in-flight orders. Default 45 s.
   */
  stepTimeoutMs: number;
  /** Payment attempts before transient failures fail the order. */
  maxPaymentAttempts: number;
  /**
   * How long compensations may take to be confirmed before the order goes to `compensation_failed`,
   * in ms (default 6 h: compensations retry through provider outages for hours).
   */
  compensationWindowMs: number;
}

export const DEFAULT_SAGA_OPTIONS: SagaOptions = {
  stepTimeoutMs: 45_000,
  maxPaymentAttempts: 3,
  compensationWindowMs: 6 * 3_600_000,
};
export const CANCEL_REASON = "cancelled by user";

export interface PlaceInput {
  orderId: string;
  userId: string;
  items: OrderLine[];
  paymentToken: string;
  correlationId: string;
  requestHash?: string;
  /** W3C trace context of the request that placed it: timers continue the order's trace from it. */
  traceparent?: string;
}

export const NOTHING: SagaDecision = { events: [], commands: [] };
const MAX_REASON = 500;
export const clip = (reason: string): string =>
  reason.length > MAX_REASON ? reason.slice(0, MAX_REASON) : reason;

export function statusChange(state: OrderState, to: OrderState["status"], reason?: string): OrderDomainEvent {
  const data = {
    orderId: state.orderId,
    from: state.status,
    to,
    ...(reason ? { reason: clip(reason) } : {}),
  };
  return { type: "order.event.status.changed", data };
}

export const sagaDuration = (state: OrderState, now: number): number =>
  Math.max(0, now - Date.parse(state.placedAt));
