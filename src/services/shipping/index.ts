/**
 * The shipping service: its definition (for the embedded runner and `main.ts`), the simulated
 * carrier, the scheduled delivery pass, and the state port with its adapters.
 */
export {
  CARRIER_NAME,
  type Carrier,
  type CarrierBooking,
  CarrierError,
  carrierKeyFor,
  type CarrierLedger,
  type CarrierOutcome,
  type CarrierRequest,
  MemoryCarrierLedger,
  SimulatedCarrier,
  type SimulatedCarrierOptions,
  trackingNumberFor,
} from "./carrier.js";
export { RedisCarrierLedger } from "./carrier-redis-ledger.js";
export {
  DEFAULT_DELIVERY_RETRY,
  DEFAULT_PARK_AFTER,
  type DeliveryDeps,
  type DeliveryPass,
  type DeliveryPoller,
  type DeliveryRetry,
  deliverDue,
  startDeliveryPoller,
} from "./delivery.js";
export type { ShipmentRecord, ShipmentStatus } from "./domain.js";
export { RedisShippingStore } from "./redis-store.js";
export { createShippingService, type ShippingServiceOptions, shippingService } from "./service.js";
export {
  type DeferredDelivery,
  MemoryShippingStore,
  type RetryBackoff,
  retryDelayMs,
  type ParkedDelivery,
  type ParkPolicy,
  type ShippingStore,
} from "./store.js";
