import { type BusLogger, causalPublisher, type MessageContext, silentLogger } from "./context.js";
import { decodeEnvelope, type Envelope } from "./envelope.js";
import { BusError, describeError, isRetryable } from "./errors.js";
import {
  type EventName,
  type EventPayload,
  type EventRegistry,
  getDefinition,
  parsePayload,
} from "./events.js";
import type { Publisher } from "./publisher.js";
import type { AttemptFailure, Delivery, Transport, TransportSubscription } from "./transport.js";

export type SubscriberMiddleware<O extends EventRegistry = EventRegistry> = (
  ctx: MessageContext<unknown, O>,
  next: () => Promise<void>,
) => Promise<void>;

export type EventHandler<P, O extends EventRegistry> = (
  payload: P,
  ctx: MessageContext<P, O>,
) => Promise<void> | void;

export interface RetryPolicy {
  /** Deliveries before a message is dead-lettered (default 3). */
  maxAttempts: number;
  /** Delay before redelivery after failed attempt n (1-based). */
  backoff: (attempt: number) => number;
}

export interface SubscriberOptions<E extends EventRegistry, O extends EventRegistry> {
  events: E;
  transport: Transport;
  middleware?: readonly SubscriberMiddleware<O>[];
  /** Consumer group: the subscribing service's name (every service its own group). */
  group: string;
  /** Consumer name: unique per instance. */
  consumer: string;
  /** Used by `ctx.publish` (correlation and causation carried on). */
  publisher?: Publisher<O>;
  retry?: Partial<RetryPolicy>;
  /** Messages handled at once by this instance (default 16). */
  concurrency?: number;
  logger?: BusLogger;
  now?: () => number;
}

/** Exponential backoff with full jitter: 100 ms, 200 ms, 400 ms... capped at 30 s. */
export const defaultBackoff = (attempt: number): number =>
  Math.random() * Math.min(30_000, 100 * 2 ** (attempt - 1));

/**
 * Receives the events of a registry through a transport, validates them, runs the middleware
 * once per message and then every handler of the event. A handler that throws a retryable error
 * gets the message again after a backoff; after `maxAttempts`, or at once for errors that cannot
 * heal (invalid payload, malformed message), the message is dead-lettered with every attempt's error.
 */
export class Subscriber<E extends EventRegistry, O extends EventRegistry = EventRegistry> {
  private readonly handlers = new Map<string, EventHandler<unknown, O>[]>();
  private readonly retry: RetryPolicy;
  private readonly logger: BusLogger;
  private readonly now: () => number;
  private subscription: TransportSubscription | undefined;

  constructor(private readonly options: SubscriberOptions<E, O>) {
    this.retry = {
      maxAttempts: options.retry?.maxAttempts ?? 3,
      backoff: options.retry?.backoff ?? defaultBackoff,
    };
    this.logger = (options.logger ?? silentLogger).child({
      group: options.group,
      consumer: options.consumer,
    });
    this.now = options.now ?? Date.now;
  }

  /** Registers a handler; several handlers of one event run in order, inside one middleware pass. */
  on<N extends EventName<E>>(event: N, handler: EventHandler<EventPayload<E, N>, O>): this {
    getDefinition(this.options.events, event);
    if (this.subscription) throw new Error("register handlers before start()");
    const list = this.handlers.get(event) ?? [];
    list.push(handler as EventHandler<unknown, O>);
    this.handlers.set(event, list);
    return this;
  }

  /** The topics this subscriber reads, for creating consumer groups before producers start. */
  topics(): { topic: string; owner: string }[] {
    return [...this.handlers.keys()].map((topic) => ({
      topic,
      owner: getDefinition(this.options.events, topic).owner,
    }));
  }

  async start(): Promise<void> {
    if (this.subscription) return;
    if (this.handlers.size === 0) throw new Error("no handlers registered");
    this.subscription = await this.options.transport.subscribe(
      {
        group: this.options.group,
        consumer: this.options.consumer,
        topics: this.topics(),
        ...(this.options.concurrency === undefined ? {} : { concurrency: this.options.concurrency }),
      },
      (delivery) => this.handle(delivery),
    );
  }

  /** Stops reading and waits for handlers in flight; unsettled messages stay pending for redelivery. */
  async stop(): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop();
  }

  get running(): boolean {
    return this.subscription !== undefined;
  }

  private async handle(delivery: Delivery): Promise<void> {
    const startedAt = this.now();
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(delivery.body);
      if (envelope.event !== delivery.topic) {
        throw new BusError(
          "TOPIC_MISMATCH",
          `envelope event "${envelope.event}" arrived on topic "${delivery.topic}"`,
        );
      }
      envelope.payload = parsePayload(this.options.events, envelope.event, envelope.payload);
    } catch (error) {
      this.logger.warn(
        { err: describeError(error), topic: delivery.topic, deliveryId: delivery.deliveryId },
        "rejected message",
      );
      await this.fail(delivery, error, startedAt);
      return;
    }
    const ctx = this.context(envelope, delivery.attempt);
    try {
      await this.runMiddleware(ctx, () => this.runHandlers(ctx));
    } catch (error) {
      await this.fail(delivery, error, startedAt, ctx.logger);
      return;
    }
    await delivery.ack();
  }

  private context(envelope: Envelope, attempt: number): MessageContext<unknown, O> {
    const publisher = causalPublisher(this.options.publisher, envelope);
    return {
      event: envelope.event,
      payload: envelope.payload,
      envelope,
      attempt,
      group: this.options.group,
      logger: lazyChild(this.logger, () => ({
        correlationId: envelope.correlationId,
        messageId: envelope.id,
        event: envelope.event,
      })),
      publish: publisher.publish,
      prepare: publisher.prepare,
    };
  }

  private async runMiddleware(ctx: MessageContext<unknown, O>, last: () => Promise<void>): Promise<void> {
    const middleware = this.options.middleware ?? [];
    const dispatch = async (index: number): Promise<void> => {
      const layer = middleware[index];
      if (!layer) return last();
      let called = false;
      await layer(ctx, () => {
        if (called) throw new Error("next() called twice");
        called = true;
        return dispatch(index + 1);
      });
    };
    await dispatch(0);
  }

  private async runHandlers(ctx: MessageContext<unknown, O>): Promise<void> {
    for (const handler of this.handlers.get(ctx.event) ?? []) await handler(ctx.payload, ctx);
  }

  private async fail(
    delivery: Delivery,
    error: unknown,
    startedAt: number,
    logger = this.logger,
  ): Promise<void> {
    const now = this.now();
    const failure: AttemptFailure = {
      attempt: delivery.attempt,
      at: new Date(now).toISOString(),
      durationMs: now - startedAt,
      error: describeError(error),
    };
    if (isRetryable(error) && delivery.attempt < this.retry.maxAttempts) {
      const delayMs = this.retry.backoff(delivery.attempt);
      logger.warn({ err: failure.error, attempt: delivery.attempt, delayMs }, "handler failed, will retry");
      await delivery.retry(failure, delayMs);
      return;
    }
    const reason = isRetryable(error)
      ? `failed ${delivery.attempt} attempts: ${failure.error.message}`
      : `not retryable: ${failure.error.message}`;
    logger.error({ err: failure.error, attempt: delivery.attempt }, "message dead-lettered");
    await delivery.deadLetter({ reason, failure });
  }
}

/**
 * A per-message child logger made only when a line is actually written: creating a pino child
 * (with redaction) for every message costs measurable CPU at thousands of messages a second.
 */
function lazyChild(base: BusLogger, bindings: () => Record<string, unknown>): BusLogger {
  let child: BusLogger | undefined;
  const get = () => (child ??= base.child(bindings()));
  const enabled = (level: string) => base.isLevelEnabled?.(level) ?? true;
  const at =
    (level: "debug" | "info" | "warn" | "error") =>
    (obj: object, msg?: string): void => {
      if (enabled(level)) get()[level](obj, msg);
    };
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (more) => get().child(more),
    isLevelEnabled: enabled,
  };
}
