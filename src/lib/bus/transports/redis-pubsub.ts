/**
 * Ephemeral, at-most-once transport on Redis Pub/Sub: one channel per event (`ps:<event>`).
 *
 * Know what it does not promise before using it:
 * - At most once. A message published while a subscriber is disconnected (or before it
 *   subscribed) is gone; nothing is stored, so `durable` is false and `ensureGroups` does nothing.
 * - No competing consumers. Every subscribing instance receives every message; `group` and
 *   `consumer` only label deliveries and dead-letter records. Two instances of a service both
 *   handle each message.
 * - A slow subscriber is cut off by Redis once its output buffer passes
 *   `client-output-buffer-limit pubsub`, and the publisher sees no error.
 * - `retry` re-invokes the handler in this process after the delay (lost if the process dies);
 *   `ack` is a no-op; `deadLetter` writes to the dead-letter store like the Streams transport.
 *
 * So it carries hints that can be rebuilt (heartbeats, live dashboards, cache invalidation), never
 * saga traffic. `redeliver(group, message)` publishes to a per-group channel only that group hears.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { DeadLetterStore } from "../../dlq/dead-letter-store.js";
import { execOrThrow } from "../../redis/index.js";
import { BusError } from "../errors.js";
import type {
  ConsumerInfo,
  AttemptFailure,
  DeadLetterRequest,
  Delivery,
  DeliveryHandler,
  OutgoingMessage,
  SubscribeOptions,
  TopicRef,
  Transport,
  TransportSubscription,
} from "../transport.js";
import { parkDeadLetter } from "./dead-letter-record.js";
import {
  FIELD_BODY,
  FIELD_OWNER,
  FIELD_TOPIC,
  pubsubChannel,
  pubsubRedeliverChannel,
} from "./redis-stream-keys.js";
import { errorDetails, silentLogger, type TransportLogger } from "./redis-streams-support.js";

export interface RedisPubSubTransportOptions {
  /** Client for PUBLISH; each subscription opens its own connection with `duplicate()`. */
  redis: Redis;
  deadLetters: DeadLetterStore;
  /** Channel name prefix (default "ps:"). */
  channelPrefix?: string;
  /** Messages a subscription holds while all its handler slots are busy; more are dropped (default 10,000). */
  maxQueued?: number;
  logger?: TransportLogger;
}

interface Received {
  deliveryId: string;
  topic: string;
  owner: string;
  body: string;
  attempt: number;
  failures: AttemptFailure[];
  /** Local receive time (ms): Pub/Sub keeps no queue, so the message "entered" it when received. */
  receivedAt: number;
  /** Local receive time on the monotonic clock (ms), for the age: a wall-clock step must not move it. */
  receivedMono: number;
  /** Times handed to the handler, this one included (retries and deferrals run it again). */
  deliveries?: number;
  /** Came on the group's redeliver channel (a DLQ replay). */
  replay?: boolean;
}

export class RedisPubSubTransport implements Transport {
  readonly kind = "redis-pubsub" as const;
  readonly durable = false;
  private readonly prefix: string;
  private readonly subscriptions = new Set<PubSubSubscription>();
  private closed = false;

  constructor(private readonly options: RedisPubSubTransportOptions) {
    this.prefix = options.channelPrefix ?? "ps:";
  }

  async ensureGroups(): Promise<void> {}

  async publish(messages: readonly OutgoingMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    const pipeline = this.options.redis.pipeline();
    for (const message of messages) pipeline.publish(pubsubChannel(this.prefix, message.topic), message.body);
    await execOrThrow(pipeline);
  }

  async subscribe(options: SubscribeOptions, handler: DeliveryHandler): Promise<TransportSubscription> {
    this.assertOpen();
    const subscription = new PubSubSubscription(
      { ...this.options, prefix: this.prefix, logger: this.options.logger ?? silentLogger },
      options,
      handler,
    );
    await subscription.start();
    this.subscriptions.add(subscription);
    return {
      stop: async () => {
        await subscription.stop();
        this.subscriptions.delete(subscription);
      },
    };
  }

  async redeliver(group: string, message: OutgoingMessage): Promise<void> {
    this.assertOpen();
    const payload = {
      [FIELD_TOPIC]: message.topic,
      [FIELD_OWNER]: message.owner,
      [FIELD_BODY]: message.body,
    };
    await this.options.redis.publish(pubsubRedeliverChannel(this.prefix, group), JSON.stringify(payload));
  }

  /** Pub/Sub has no consumer groups: nothing to list. */
  async consumers(): Promise<ConsumerInfo[]> {
    return [];
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.stop()));
    this.subscriptions.clear();
  }

  private assertOpen(): void {
    if (this.closed) throw new BusError("TRANSPORT_CLOSED", "The Redis Pub/Sub transport is closed");
  }
}

interface SubscriptionContext {
  redis: Redis;
  deadLetters: DeadLetterStore;
  prefix: string;
  maxQueued?: number;
  logger: TransportLogger;
}

class PubSubSubscription {
  private readonly connection: Redis;
  private readonly channels = new Map<string, TopicRef>();
  private readonly redeliverChannel: string;
  private readonly concurrency: number;
  private queue: Received[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly context: SubscriptionContext,
    private readonly options: SubscribeOptions,
    private readonly handler: DeliveryHandler,
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 16);
    for (const ref of options.topics) this.channels.set(pubsubChannel(context.prefix, ref.topic), ref);
    this.redeliverChannel = pubsubRedeliverChannel(context.prefix, options.group);
    this.connection = context.redis.duplicate();
    this.connection.on("error", (error: unknown) =>
      context.logger.warn(errorDetails(error), "pub/sub connection error (messages meanwhile are lost)"),
    );
  }

  async start(): Promise<void> {
    this.connection.on("message", (channel: string, message: string) => this.receive(channel, message));
    await this.connection.subscribe(...this.channels.keys(), this.redeliverChannel);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue = [];
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.connection.disconnect();
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  private receive(channel: string, message: string): void {
    const received =
      channel === this.redeliverChannel ? this.parseRedelivery(message) : this.fresh(channel, message);
    if (received) this.enqueue(received);
  }

  private fresh(channel: string, body: string): Received | undefined {
    const ref = this.channels.get(channel);
    if (!ref) return undefined;
    return {
      deliveryId: randomUUID(),
      topic: ref.topic,
      owner: ref.owner,
      body,
      attempt: 1,
      failures: [],
      receivedAt: Date.now(),
      receivedMono: performance.now(),
    };
  }

  private parseRedelivery(message: string): Received | undefined {
    try {
      const raw = JSON.parse(message) as Record<string, unknown>;
      const [topic, owner, body] = [raw[FIELD_TOPIC], raw[FIELD_OWNER], raw[FIELD_BODY]];
      if (typeof topic === "string" && typeof owner === "string" && typeof body === "string") {
        return {
          deliveryId: randomUUID(),
          topic,
          owner,
          body,
          attempt: 1,
          failures: [],
          receivedAt: Date.now(),
          receivedMono: performance.now(),
          replay: true,
        };
      }
    } catch {
      // reported below
    }
    this.context.logger.warn({ group: this.options.group }, "malformed redelivery ignored");
    return undefined;
  }

  private enqueue(received: Received): void {
    if (this.stopped) return;
    if (this.queue.length >= (this.context.maxQueued ?? 10_000)) {
      this.context.logger.warn(
        { group: this.options.group, topic: received.topic },
        "pub/sub queue full; dropped",
      );
      return;
    }
    this.queue.push(received);
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.concurrency) {
      const next = this.queue.shift();
      if (!next) return;
      const run = this.run(next).finally(() => {
        this.running.delete(run);
        this.pump();
      });
      this.running.add(run);
    }
  }

  private async run(received: Received): Promise<void> {
    try {
      await this.handler(this.delivery(received));
    } catch (error) {
      // At most once: a handler that throws without settling loses the message.
      this.context.logger.error({ ...errorDetails(error), topic: received.topic }, "pub/sub handler threw");
    }
  }

  private delivery(received: Received): Delivery {
    let settled = false;
    const once = (action: string): boolean => {
      if (settled) {
        this.context.logger.warn(
          { deliveryId: received.deliveryId, action },
          "delivery already settled; ignored",
        );
        return false;
      }
      settled = true;
      return true;
    };
    return {
      deliveryId: received.deliveryId,
      topic: received.topic,
      owner: received.owner,
      body: received.body,
      attempt: received.attempt,
      waitedAttempts: received.failures.filter((f) => f.waited === true).length,
      // Nothing survives a crash on Pub/Sub: no delivery can have been silent.
      silentDeliveries: 0,
      deliveryCount: received.deliveries ?? 1,
      replay: received.replay === true,
      enqueuedAt: received.receivedAt,
      // Received and measured by this process: one clock.
      ageMs: () => Math.max(0, performance.now() - received.receivedMono),
      now: () => received.receivedAt + (performance.now() - received.receivedMono),
      ack: async () => {
        once("ack");
      },
      defer: async (delayMs: number) => {
        if (once("defer")) this.scheduleRetry(received, undefined, delayMs);
      },
      retry: async (failure: AttemptFailure, delayMs: number) => {
        if (once("retry")) this.scheduleRetry(received, failure, delayMs);
      },
      deadLetter: async (request: DeadLetterRequest) => {
        if (once("deadLetter")) await this.deadLetter(received, request);
      },
    };
  }

  /** Again after `delayMs`; a failure makes it the next attempt, a deferral (no failure) does not. */
  private scheduleRetry(received: Received, failure: AttemptFailure | undefined, delayMs: number): void {
    if (this.stopped) return;
    const timer = setTimeout(
      () => {
        this.timers.delete(timer);
        const deliveries = (received.deliveries ?? 1) + 1;
        if (!failure) return this.enqueue({ ...received, deliveries });
        const failures = [...received.failures, failure];
        this.enqueue({ ...received, attempt: received.attempt + 1, failures, deliveries });
      },
      Math.max(0, delayMs),
    );
    this.timers.add(timer);
  }

  private deadLetter(received: Received, request: DeadLetterRequest): Promise<void> {
    return parkDeadLetter(
      this.context.deadLetters,
      {
        group: this.options.group,
        topic: received.topic,
        owner: received.owner,
        deliveryId: received.deliveryId,
        body: received.body,
        earlierFailures: received.failures,
        request,
      },
      this.options.consumer,
    );
  }
}
