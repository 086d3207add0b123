import { childTraceparent, type Envelope } from "./envelope.js";
import { PublisherMissingError } from "./errors.js";
import type { EventInput, EventName, EventPayload, EventRegistry } from "./events.js";
import type { PreparedMessage, Publisher, PublishOptions } from "./publisher.js";

/** How a handler recognises a message it handled before (see `MessageContext.dedupedBy`). */
export type DedupedBy = "marks" | "record";

/** The logger shape the bus needs; a pino Logger fits it. */
export interface BusLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): BusLogger;
  /** When present, lets the bus skip building log lines nobody will see. */
  isLevelEnabled?(level: string): boolean;
}

export const silentLogger: BusLogger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

/** Publishing from inside a handler: correlation, causation and trace carry on from the message handled. */
export interface CausalPublisher<O extends EventRegistry> {
  publish<N extends EventName<O>>(
    event: N,
    payload: EventInput<O, N>,
    options?: PublishOptions,
  ): Promise<Envelope<EventPayload<O, N>>>;
  /** Prepares (validates and encodes) without sending: for a store that writes events with its state. */
  prepare<N extends EventName<O>>(
    event: N,
    payload: EventInput<O, N>,
    options?: PublishOptions,
  ): PreparedMessage<EventPayload<O, N>>;
}

/** What middleware and handlers see for one delivered message. */
export interface MessageContext<
  P = unknown,
  O extends EventRegistry = EventRegistry,
> extends CausalPublisher<O> {
  readonly event: string;
  readonly payload: P;
  readonly envelope: Envelope<P>;
  /**
   * The handler attempt: 1 + the failed attempts recorded for this message. Redeliveries without an
   * outcome (a reconnect, a takeover of a dead instance's message, a deferred duplicate) do not
   * raise it.
   */
  readonly attempt: number;
  /**
   * When the message entered this group's queue, ms since the epoch (Redis Streams: the entry id's
   * time, on the Redis clock; a DLQ replay: the time of the replay). See `Delivery.enqueuedAt`.
   */
  readonly enqueuedAt: number;
  /**
   * Ms since `enqueuedAt`, as of now, on the transport's clock (Redis `TIME` on Redis Streams, the
   * process's shared clock: see `Delivery.ageMs`), never this host's wall clock.
   */
  ageMs(): number;
  /** The transport's clock now, epoch ms: what `ageMs` reads (`Delivery.now`), when it has one. */
  now?(): number;
  /**
   * When this entry was first handed to a consumer of the group, on the clock of `enqueuedAt`;
   * undefined when the transport does not know (see `Delivery.firstDeliveredAt`).
   */
  readonly firstDeliveredAt?: number | undefined;
  /** Times this entry was handed to a consumer of the group, this one included (`Delivery.deliveryCount`). */
  readonly deliveryCount: number;
  /** A manual replay (DLQ retry): the group may have been given the message before (`Delivery.replay`). */
  readonly replay: boolean;
  /**
   * How the event's handlers in this group recognise a message they handled before: `"marks"`
   * (dedupe marks that expire after `MARKER_TTL_MS`: a message older than that is refused) or
   * `"record"` (state kept as long as the system of record, e.g. a refund by order id in the payment
   * record: a message of any age can be run). `"record"` only when every handler of the event says so.
   */
  readonly dedupedBy: DedupedBy;
  /** Consumer group (the subscribing service). */
  readonly group: string;
  /** See `Delivery.signal`: aborted once this run no longer holds the message's lease. */
  readonly signal?: AbortSignal | undefined;
  readonly logger: BusLogger;
}

export function causalOptions(envelope: Envelope, options: PublishOptions = {}): PublishOptions {
  return {
    correlationId: envelope.correlationId,
    causationId: envelope.id,
    traceparent: childTraceparent(envelope.traceparent),
    ...options,
  };
}

export function causalPublisher<O extends EventRegistry>(
  publisher: Publisher<O> | undefined,
  envelope: Envelope,
): CausalPublisher<O> {
  const need = (): Publisher<O> => {
    if (!publisher) throw new PublisherMissingError();
    return publisher;
  };
  return {
    publish: (event, payload, options) => need().publish(event, payload, causalOptions(envelope, options)),
    prepare: (event, payload, options) => need().prepare(event, payload, causalOptions(envelope, options)),
  };
}
