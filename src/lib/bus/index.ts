// The typed event bus: events, envelopes, publisher, subscriber, middleware and transports.
export { type BusLogger, type CausalPublisher, type MessageContext, silentLogger } from "./context.js";
export {
  childTraceparent,
  decodeEnvelope,
  type Envelope,
  encodeEnvelope,
  type MessageSource,
  newMessageId,
  parseTraceparent,
  type Traceparent,
} from "./envelope.js";
export {
  BusError,
  ConsumerGroupError,
  CrashLoopError,
  CreatedInFutureError,
  describeError,
  isRetryable,
  MalformedMessageError,
  MessageInProgressError,
  NoHandlerError,
  PublisherMissingError,
  TooOldToDeduplicateError,
  UnknownEventError,
  ValidationError,
  waits,
} from "./errors.js";
export {
  combineRegistries,
  defineEvents,
  describeRegistry,
  type EventDefinition,
  type EventInput,
  type EventName,
  type EventPayload,
  type EventRegistry,
  type EventSpec,
  getDefinition,
  parsePayload,
} from "./events.js";
export { MemoryIdempotencyStore } from "./idempotency/memory-store.js";
export { RedisIdempotencyStore } from "./idempotency/redis-store.js";
export type { ClaimResult, IdempotencyStore } from "./idempotency/store.js";
export { generateIdempotencyKey, stableStringify } from "./idempotency-key.js";
export {
  createDedupeWindowMiddleware,
  type DedupeWindowOptions,
  dedupeAgeMs,
  type AgedMessage,
  type FutureRecheckClock,
} from "./middleware/dedupe-window.js";
export {
  createIdempotencyMiddleware,
  defaultIdempotencyKey,
  type IdempotencyOptions,
} from "./middleware/idempotency.js";
export { createSubscriberLoggingMiddleware, type SubscriberLoggingOptions } from "./middleware/logging.js";
export {
  createRateLimitMiddleware,
  type RateLimitOptions,
  type ThrottlingMiddleware,
} from "./middleware/rate-limit.js";
export { createSubscriberTimingMiddleware, type TimingCallback } from "./middleware/timing.js";
export { type PreparedMessage, Publisher, type PublisherOptions, type PublishOptions } from "./publisher.js";
export {
  CRASH_LOOP_BACKSTOP_FACTOR,
  DEFAULT_MUST_COMPLETE,
  type DeliveryPolicy,
  defaultBackoff,
  type HandlerOptions,
  MUST_COMPLETE_MAX_SILENT_DELIVERIES,
  type MustCompletePolicy,
  mustCompleteBackoff,
  type RetryPolicy,
} from "./retry-policy.js";
export {
  type EventHandler,
  type RefusalDetails,
  type RefusalReason,
  Subscriber,
  type SubscriberMiddleware,
  type SubscriberOptions,
} from "./subscriber.js";
export type * from "./transport.js";
export { MemoryTransport, type MemoryTransportOptions } from "./transports/memory.js";
export { RedisPubSubTransport, type RedisPubSubTransportOptions } from "./transports/redis-pubsub.js";
export { RedisStreamsTransport, type RedisStreamsTransportOptions } from "./transports/redis-streams.js";
export { eventStreamKey, redeliverStreamKey } from "./transports/redis-stream-keys.js";
export {
  ownedStreamKeys,
  STALE_GROUP_MS,
  type StaleGroup,
  StreamTrimmer,
  type StreamTrimmerOptions,
} from "./transports/redis-streams-trim.js";
