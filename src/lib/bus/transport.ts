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
  /**
   * The failure waited (an outage, an outcome not known yet: see retry-policy.ts) and spent none of
   * the default policy's `maxAttempts`.
   */
  waited?: boolean;
}

/** What the subscriber hands the transport when it gives up on a message. */
export interface DeadLetterRequest {
  reason: string;
  /** The failure of the attempt that gave up; the transport adds the earlier attempts it recorded. */
  failure: AttemptFailure;
  /** What the record keeps as the body instead of the delivery's (`""` for an oversized one). */
  body?: string;
}

/** A message handed to a consumer, pending until settled exactly once. */
export interface Delivery {
  /** Transport-level id (stream entry id), unique per topic. */
  readonly deliveryId: string;
  readonly topic: string;
  readonly owner: string;
  readonly body: string;
  /**
   * The handler attempt this delivery is: 1 + the failed attempts recorded for the message (by
   * `retry`), across consumers. Redeliveries that had no outcome (a reconnect, a takeover of a
   * consumer that died, a `defer`) do not raise it.
   */
  readonly attempt: number;
  /**
   * How many of the failed attempts before this one (`attempt - 1`) were recorded as `waited`: they
   * spend no retry budget, so the default policy counts `attempt - waitedAttempts` against
   * `maxAttempts`.
   */
  readonly waitedAttempts: number;
  /**
   * Earlier deliveries of this message that ended without any outcome (no ack, retry, defer or
   * dead-letter): the consumer crashed, was killed or lost its lease. A message that kills its
   * consumer never throws; only this count shows it (a "max receive count").
   */
  readonly silentDeliveries: number;
  /**
   * Earlier runs of this message whose handler started and that ended without an outcome, whether
   * or not they are proven its own crashes (`silentDeliveries` counts only those) and whether or
   * not a later failed attempt explained them: the crash-loop backstop (`CRASH_LOOP_BACKSTOP_FACTOR`).
   * Deliveries that died before their handler started (waiting their turn behind a crash suspect)
   * are not counted. Undefined when the transport does not tell them apart (then `silentDeliveries`).
   */
  readonly silentStartedRuns?: number;
  /**
   * Of those silent runs, the ones given up as hung (their handler ran `maxLeaseMs` without
   * returning) rather than cut short by a crash: the crash-loop backstop's reason names them.
   * Undefined when the transport does not tell them apart.
   */
  readonly hungRuns?: number;
  /**
   * Earlier deliveries of this entry that were deferred (`defer`: an in-progress duplicate); 0 when
   * the transport does not count them.
   */
  readonly deferrals?: number;
  /**
   * Aborted once this consumer stops holding the message's lease while the handler may still run:
   * the handler ran `maxLeaseMs` and is taken for hung (its lease is no longer renewed), or another
   * consumer took the entry over. A handler cannot be stopped, but whatever it keeps alive for the
   * message must lapse then (the idempotency middleware stops extending its claim). Undefined when
   * the transport has no leases.
   */
  readonly signal?: AbortSignal;
  /**
   * Times this transport entry has been handed to a consumer of the group, this one included (1: the
   * first time; Redis Streams: the entry's delivery counter). With `replay`, it tells whether the
   * group may have handled the message before: only then can a dedupe mark that expired matter.
   */
  readonly deliveryCount: number;
  /**
   * A manual replay (DLQ retry, `redeliver`): a new entry carrying a message the group was given
   * before under another entry, so it may have handled it before whatever `deliveryCount` says.
   */
  readonly replay: boolean;
  /**
   * When the message entered this group's queue, in ms since the epoch (Redis: the stream entry
   * id's time on the Redis clock; in memory: the publish time). Time budgets count from it.
   */
  readonly enqueuedAt: number;
  /**
   * When this entry was first handed to a consumer of the group, on the clock of `enqueuedAt`, if the
   * transport knows it (undefined: unknown; Redis Streams knows it on the first delivery and, after
   * it, when the first delivery recorded a failed attempt). Every handling of the entry began at or
   * after it, so a redelivery's dedupe marks are at most that old: an entry that waited in a backlog
   * before its first delivery is not "old" on its retry (dedupe-window.ts).
   */
  readonly firstDeliveredAt?: number | undefined;
  /**
   * Ms the message has been in this group's queue, as of now, read on the clock that set
   * `enqueuedAt` (Redis Streams: Redis `TIME` through a measured offset; in memory and Pub/Sub: the
   * transport's clock). Time budgets (the must-complete window) use this, never `Date.now() -
   * enqueuedAt`: a consumer whose own clock is set wrong must decide as one whose clock is right.
   */
  ageMs(): number;
  /**
   * The clock `ageMs` reads, now (epoch ms). Dates a message by its signed creation time: `enqueuedAt
   * + ageMs()` is no substitute, since `enqueuedAt` comes from the entry id, which nobody signs and
   * which can lie ahead of that clock (an id set by hand, a Redis clock that ran ahead; break37 F1).
   * Optional for transports written before it; without it the dedupe window falls back to that sum.
   */
  now?(): number;
  /** Handled: remove from pending. */
  ack(): Promise<void>;
  /** Failed but may succeed later: record the failure, keep pending, deliver again after `delayMs`. */
  retry(failure: AttemptFailure, delayMs: number): Promise<void>;
  /**
   * Not now, and not a failure: keep pending and deliver again after `delayMs`, recording no failed
   * attempt (an in-progress duplicate waiting for the first run). It still counts as an outcome,
   * so deferring never looks like a crash loop.
   */
  defer(delayMs: number): Promise<void>;
  /** Give up: park the message with every attempt's failure in the dead-letter store, then ack. */
  deadLetter(request: DeadLetterRequest): Promise<void>;
}

/**
 * Backpressure on reads: a transport asks before reading new messages how many it may read now,
 * so a rate limit leaves the backlog in the queue instead of holding delivered messages (which
 * would then look idle and be taken over). Synchronous, so the in-memory transport can use it too.
 */
export interface ReadThrottle {
  /** Grants up to `max` reads now (possibly 0). */
  tryTake(max: number): number;
  /** Returns grants a read did not use. */
  giveBack(count: number): void;
  /** Ms until a grant may be possible again (0 when one is possible now). */
  waitMs(): number;
}

export interface SubscribeOptions {
  /** Consumer group: one per subscribing service. */
  group: string;
  /** Consumer name: one per instance. */
  consumer: string;
  topics: readonly TopicRef[];
  /** Messages handled at once by this consumer (default 16). */
  concurrency?: number;
  /** Limits how fast new messages are read (the rate limiter's read side); none by default. */
  throttle?: ReadThrottle;
}

export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

export interface StopOptions {
  /**
   * Longest wait (ms) for the handlers in flight (default: until they return, however long). Past
   * it, stop() returns with them still running: their messages stay pending, no longer held (on
   * Redis Streams their leases are not renewed: another instance takes them over once idle, after
   * `claimIdleMs`; in memory, after `maxLeaseMs`). For a process about to exit; a handler that
   * returns later may still acknowledge or fail its message.
   */
  timeoutMs?: number;
}

export interface TransportSubscription {
  /** Stops reading, waits for in-flight handlers to settle; unsettled messages stay pending. */
  stop(options?: StopOptions): Promise<void>;
}

/** One consumer of a group, as the transport sees it. */
export interface ConsumerInfo {
  name: string;
  /** Messages pending in its name. */
  pending: number;
  /** Time in ms since it last read or claimed (0 while it is active, where the transport knows). */
  idleMs: number;
}

/**
 * A manual replay (DLQ retry) with an id naming it: a transport sends one replay id to a group at
 * most once within `REPLAY_DEDUPE_MS`, so a retry that crashed after sending and is run again does
 * not send it twice.
 */
export interface Replay {
  replayId: string;
  message: OutgoingMessage;
}

/** How long a sent replay id is remembered (ms): 24 h, as an Idempotency-Key. */
export const REPLAY_DEDUPE_MS = 86_400_000;

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
  /**
   * `redeliver` for a batch, each replay id at most once (see `Replay`): the replays not sent
   * before go out in order, in one step on the transports that have one. Returns how many were
   * sent now. Optional: a transport without it cannot tell a replay already sent.
   */
  redeliverOnce?(group: string, replays: readonly Replay[]): Promise<number>;
  /**
   * The consumers of a group on the given topics (on Streams: per stream, merged by name with the
   * largest idle time and the summed pending count). Transports without groups list none.
   */
  consumers(group: string, topics: readonly TopicRef[]): Promise<ConsumerInfo[]>;
  /** Stops every subscription and releases connections. */
  close(): Promise<void>;
}

/**
 * Most runs given up as hung (`maxLeaseMs`) that one subscription lets go at once: their slots
 * freed, their messages free to run again, on this consumer too (Streams: Dispatcher.leased; in
 * memory: MemoryTransport.letGo). Past it a hung run keeps its slot and its message, as every hung
 * run did before break24 F2. A message whose handler hangs on every run is parked after 3 x its
 * crash-loop limit runs (9 by default, 30 for a must-complete one), all of them hung at once if
 * none ever returns: the bound leaves room for a few such messages at a time, and keeps a handler
 * that hangs on everything (a dependency that never answers, without a timeout) from piling up hung
 * runs without end: then the process stops taking work, and its metrics show it.
 */
export const MAX_HUNG_RUNS_LET_GO = 100;
