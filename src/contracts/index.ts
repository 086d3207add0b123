/**
 * The contracts services share (services never import each other): one event registry per owning
 * (publishing) service, the joined catalog, the inferred payload types, the shared Zod building
 * blocks, and the gateway's HTTP body schemas.
 */
export type { AllEventName, AnyEventInput, AnyEventPayload } from "./catalog.js";
export { AllEvents } from "./catalog.js";
export type { NotificationChannel, NotificationPreferences, OrderStatus } from "./common.js";
export {
  AmountSchema,
  CarrierSchema,
  type CompensationSkipOutcome,
  CompensationSkipOutcomeSchema,
  CompensationSkippedSchema,
  CurrencySchema,
  DurationMsSchema,
  DurationSummarySchema,
  EmailSchema,
  EVENT_NAME_PATTERN,
  EventNameSchema,
  IdSchema,
  IsoTimestampSchema,
  linesTotal,
  DEFAULT_MAX_ORDER_TOTAL_CENTS,
  MAX_ORDER_LINES,
  MAX_PRICE_CENTS,
  MAX_STOCK_LEVEL,
  NotificationChannelSchema,
  NotificationPreferencesSchema,
  OrderIdSchema,
  OrderLineSchema,
  OrderLinesSchema,
  OrderStatusSchema,
  PaymentProcessedSchema,
  PaymentTokenSchema,
  SealedContactSchema,
  SealedPaymentTokenSchema,
  PersonNameSchema,
  PhoneSchema,
  PricedOrderLineSchema,
  PricedOrderLinesSchema,
  PricedReservationSchema,
  ProductIdSchema,
  QuantitySchema,
  ReasonSchema,
  ServiceNameSchema,
  ShipmentPreparedSchema,
  StockLevelSchema,
  UserIdSchema,
} from "./common.js";
export type {
  DeregisterReason,
  HealthStatus,
  ServiceDeregistered,
  ServiceHealthStatus,
  ServiceHeartbeat,
  ServiceRegistered,
} from "./discovery.js";
export {
  AddressSchema,
  DeregisterReasonSchema,
  DiscoveryEvents,
  HealthStatusSchema,
  PortSchema,
  VersionSchema,
} from "./discovery.js";
export {
  AddProductBody,
  CreateUserBody,
  PlaceOrderBody,
  PreferencesInputSchema,
  RestockBody,
  UpdateUserBody,
} from "./http.js";
export type {
  InventoryCommitted,
  InventoryLowStock,
  InventoryProductAdded,
  InventoryReleased,
  InventoryReleaseSkipped,
  InventoryReservationFailed,
  InventoryReserved,
  InventoryRestocked,
  ReservationFailureReason,
} from "./inventory.js";
export {
  InventoryEvents,
  ProductNameSchema,
  ReservationFailureReasonSchema,
  ShortLineSchema,
} from "./inventory.js";
export type {
  BreakerState,
  MetricsCircuitBreakerState,
  MetricsEventProcessed,
  MetricsSagaCompleted,
  ProcessingOutcome,
  SagaOutcome,
} from "./metrics.js";
export { BreakerStateSchema, MetricsEvents, ProcessingOutcomeSchema, SagaOutcomeSchema } from "./metrics.js";
export type { NotificationFailed, NotificationSent } from "./notification.js";
export { NotificationEvents, TemplateSchema } from "./notification.js";
export type {
  Compensation,
  FailureStage,
  InventoryCommitRequested,
  InventoryReservationRequested,
  OrderCancelled,
  OrderCompensationFailed,
  OrderCompensationInventoryRelease,
  OrderCompensationPaymentRefund,
  OrderCompensationShipmentCancel,
  OrderCompleted,
  OrderDelivered,
  OrderEventCreated,
  OrderEventStatusChanged,
  OrderFailed,
  OrderInventoryReserved,
  OrderPaymentProcessed,
  OrderPlaced,
  OrderShipmentPrepared,
  PaymentRequested,
  ShippingShipmentRequested,
  UserValidationRequested,
} from "./order.js";
export { CompensationSchema, FailureStageSchema, OrderEvents } from "./order.js";
export type {
  PaymentFailed,
  PaymentFailureCode,
  PaymentProcessed,
  PaymentRefunded,
  PaymentRefundRequested,
  PaymentRefundSkipped,
} from "./payment.js";
export { PaymentEvents, PaymentFailureCodeSchema } from "./payment.js";
export type {
  ShippingShipmentCancelled,
  ShippingShipmentCancelSkipped,
  ShippingShipmentDelivered,
  ShippingShipmentFailed,
  ShippingShipmentPrepared,
} from "./shipping.js";
export { ShippingEvents } from "./shipping.js";
export type { UserCreated, UserDeleted, UserField, UserUpdated, UserValidated } from "./user.js";
export { UserEvents, UserFieldSchema } from "./user.js";
