/**
 * The saga's vocabulary: its inputs, the commands it sends, a decision, its options, and the
 * small builders every decision uses. Pure, like the saga.
 */
import type {
  AllEventName,
  AnyEventInput,
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
}

export interface SagaOptions {
  /** Time each step (validation, inventory, payment with its retries, shipping) may take. */
  stepTimeoutMs: number;
  /** Payment attempts before transient failures fail the order. */
  maxPaymentAttempts: number;
}

export const DEFAULT_SAGA_OPTIONS: SagaOptions = { stepTimeoutMs: 10_000, maxPaymentAttempts: 3 };
export const CANCEL_REASON = "cancelled by user";

export interface PlaceInput {
  orderId: string;
  userId: string;
  items: OrderLine[];
  paymentToken: string;
  correlationId: string;
  requestHash?: string;
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
