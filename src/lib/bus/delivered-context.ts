/**
 * The context a handler receives for one delivered message (MessageContext), as one class
 * instance. It is made for every delivery of every service, so what a handler rarely reads is made
 * only when read: the lease signal (`signal`, a getter: the transport makes it on first read, and
 * a spread copy of the context has none) and the child logger bound to the message's ids (made on
 * the first line written). An object literal with ~15 closures per delivery
 * (publish, prepare, the logger's levels, ...) cost measurable CPU and GC at thousands of messages
 * a second (BENCHMARKS.md "Session 21"). The functions a handler may destructure (`publish`,
 * `prepare`, `ageMs`, `now`) stay own properties bound to this message.
 */
import {
  type BusLogger,
  type CausalPublisher,
  causalOptions,
  type DedupedBy,
  type MessageContext,
} from "./context.js";
import type { Envelope } from "./envelope.js";
import type { EventRegistry } from "./events.js";
import type { Publisher } from "./publisher.js";
import type { Delivery } from "./transport.js";

export class DeliveredContext<O extends EventRegistry> implements MessageContext<unknown, O> {
  readonly event: string;
  readonly payload: unknown;
  readonly firstDeliveredAt: number | undefined;
  readonly attempt: number;
  readonly enqueuedAt: number;
  readonly deliveryCount: number;
  readonly replay: boolean;
  readonly ageMs: () => number;
  declare readonly now?: () => number;
  readonly publish: CausalPublisher<O>["publish"];
  readonly prepare: CausalPublisher<O>["prepare"];
  /** A child of the subscriber's logger bound to the event, message and correlation ids, made on the first line written. */
  readonly logger: BusLogger;
  readonly #delivery: Delivery;

  /**
   * @param publisher the subscriber's publisher; without one, `publish` and `prepare` throw.
   * @param baseLogger the subscriber's logger, of which `logger` is a child bound to the message.
   */
  constructor(
    readonly envelope: Envelope,
    delivery: Delivery,
    readonly dedupedBy: DedupedBy,
    readonly group: string,
    baseLogger: BusLogger,
    publisher: Publisher<O> | undefined,
  ) {
    this.event = envelope.event;
    this.payload = envelope.payload;
    this.attempt = delivery.attempt;
    this.enqueuedAt = delivery.enqueuedAt;
    this.firstDeliveredAt = delivery.firstDeliveredAt;
    this.deliveryCount = delivery.deliveryCount;
    this.replay = delivery.replay;
    this.#delivery = delivery;
    this.logger = new MessageLogger(baseLogger, envelope);
    this.ageMs = () => delivery.ageMs();
    if (delivery.now) this.now = () => delivery.now!();
    this.publish = (event, payload, options) =>
      needPublisher(publisher).publish(event, payload, causalOptions(envelope, options));
    this.prepare = (event, payload, options) =>
      needPublisher(publisher).prepare(event, payload, causalOptions(envelope, options));
  }

  /** See `Delivery.signal`: aborted once this run no longer holds the message's lease. */
  get signal(): AbortSignal | undefined {
    return this.#delivery.signal;
  }
}

function needPublisher<O extends EventRegistry>(publisher: Publisher<O> | undefined): Publisher<O> {
  if (!publisher)
    throw new Error("this subscriber was created without a publisher: ctx.publish is unavailable");
  return publisher;
}

/**
 * A per-message child logger made only when a line is actually written: creating a pino child
 * (with redaction) for every message costs measurable CPU at thousands of messages a second. One
 * object per message, no closures; like a pino logger, its methods are called on it
 * (`ctx.logger.info(...)`), not detached.
 */
class MessageLogger implements BusLogger {
  #child: BusLogger | undefined;
  readonly #base: BusLogger;
  readonly #envelope: Envelope;

  constructor(base: BusLogger, envelope: Envelope) {
    this.#base = base;
    this.#envelope = envelope;
  }

  debug(obj: object, msg?: string): void {
    if (this.isLevelEnabled("debug")) this.#get().debug(obj, msg);
  }

  info(obj: object, msg?: string): void {
    if (this.isLevelEnabled("info")) this.#get().info(obj, msg);
  }

  warn(obj: object, msg?: string): void {
    if (this.isLevelEnabled("warn")) this.#get().warn(obj, msg);
  }

  error(obj: object, msg?: string): void {
    if (this.isLevelEnabled("error")) this.#get().error(obj, msg);
  }

  child(bindings: Record<string, unknown>): BusLogger {
    return this.#get().child(bindings);
  }

  isLevelEnabled(level: string): boolean {
    return this.#base.isLevelEnabled?.(level) ?? true;
  }

  #get(): BusLogger {
    const envelope = this.#envelope;
    return (this.#child ??= this.#base.child({
      correlationId: envelope.correlationId,
      messageId: envelope.id,
      event: envelope.event,
    }));
  }
}
