/**
 * The transport contract. A transport moves opaque encoded envelopes between publishers and
 * consumer groups; the Subscriber above it owns decoding, validation, middleware and the
 * retry/dead-letter policy, so every transport behaves the same way for it.
 *
 * Delivery model (shared by all transports):
 * - A message is published to a topic (the event name) owned by a service (`owner`).
 * - Each consumer *group* (one per subscribing service) receives every message of its topics;
 *   within a group each message goes to one consumer (one per instance): competing consumers.
 * - A delivered message stays pending until `ack`, `retry` or `deadLetter` settles it. Durable
 *   transports redeliver the pending messages of a consumer that died, after `claimIdleMs`.
 */

/** One encoded message, ready to hand to a transport. */
export interface OutgoingMessage {
  /** Event name. */
  topic: string;
  /** Owning service of the event: durable transports keep its streams in that service's hash slot. */
  owner: string;
  /** Envelope id (also used by transports that can deduplicate). */
  id: string;
  /** The encoded envelope. */
  body: string;
}

/** A topic a subscription reads. */
export interface TopicRef {
  topic: string;
  owner: string;
}

/** What one failed attempt left behind. */
export interface AttemptFailure {
  attempt: number;
  at: string;
  durationMs: number;
  error: { name: string; message: string; code?: string };
}

/** What the subscriber hands the transport when it gives up on a message. */
export interface DeadLetterRequest {
  reason: string;
  /** The failure of the attempt that gave up; the transport adds the earlier attempts it recorded. */
  failure: AttemptFailure;
}

/** A message handed to a consumer, pending until settled exactly once. */
export interface Delivery {
  /** Transport-level id (stream entry id), unique per topic. */
  readonly deliveryId: string;
  readonly topic: string;
  readonly owner: string;
  readonly body: string;
  /** 1 for the first delivery; grows with every redelivery, across consumers. */
  readonly attempt: number;
  /** Handled: remove from pending. */
  ack(): Promise<void>;
  /** Failed but may succeed later: record the failure, keep pending, deliver again after `delayMs`. */
  retry(failure: AttemptFailure, delayMs: number): Promise<void>;
  /** Give up: park the message with every attempt's failure in the dead-letter store, then ack. */
  deadLetter(request: DeadLetterRequest): Promise<void>;
}

export interface SubscribeOptions {
  /** Consumer group: one per subscribing service. */
  group: string;
  /** Consumer name: one per instance. */
  consumer: string;
  topics: readonly TopicRef[];
  /** Messages handled at once by this consumer (default 16). */
  concurrency?: number;
}

export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

export interface TransportSubscription {
  /** Stops reading, waits for in-flight handlers to settle; unsettled messages stay pending. */
  stop(): Promise<void>;
}

export interface Transport {
  readonly kind: "memory" | "redis-streams" | "redis-pubsub";
  /** True when a published message survives consumer crashes and is redelivered until settled. */
  readonly durable: boolean;
  /**
   * Creates the consumer groups of a subscription ahead of time, so messages published before the
   * first consumer starts are kept for it. Idempotent. (No-op on transports without groups.)
   */
  ensureGroups(group: string, topics: readonly TopicRef[]): Promise<void>;
  publish(messages: readonly OutgoingMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions, handler: DeliveryHandler): Promise<TransportSubscription>;
  /**
   * Delivers a message again to one consumer group only (manual replay from the dead-letter
   * queue): the other groups, which handled it, do not see it twice.
   */
  redeliver(group: string, message: OutgoingMessage): Promise<void>;
  /** Stops every subscription and releases connections. */
  close(): Promise<void>;
}
