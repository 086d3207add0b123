import {
  childTraceparent,
  type Envelope,
  encodeEnvelope,
  isTraceparent,
  type MessageSource,
  messageIdGenerator,
  newMessageId,
} from "./envelope.js";
import {
  type EventInput,
  type EventName,
  type EventPayload,
  type EventRegistry,
  getDefinition,
  parsePayload,
} from "./events.js";
import { MAX_ENVELOPE_BYTES, MessageTooLargeError, oversizedBytes } from "./errors.js";
import type { OutgoingMessage, Transport } from "./transport.js";
import { createSigner, type EnvelopeSigner } from "../security/signing.js";
import { getProcessKeyring, warnEphemeralKeys } from "../security/process-keys.js";

/** Metadata a publisher may set; anything left out is generated. */
export interface PublishOptions {
  correlationId?: string;
  causationId?: string;
  idempotencyKey?: string;
  traceparent?: string;
  attributes?: Record<string, string>;
  /** Override the message id (e.g. a deterministic id for an outbox retry). */
  id?: string;
  occurredAt?: Date;
}

/** An envelope validated and encoded, ready to be published now or written in a store's transaction. */
export interface PreparedMessage<P = unknown> {
  envelope: Envelope<P>;
  message: OutgoingMessage;
}

/**
 * Sees every envelope before it is encoded: may enrich it (attributes, trace) or veto it by throwing.
 * Synchronous and run inside `prepare`, so it also covers messages a store writes in its own
 * transaction (the outbox), and each message is still encoded exactly once.
 */
export type PublisherMiddleware = (envelope: Envelope, next: () => void) => void;

export interface PublisherOptions<E extends EventRegistry> {
  events: E;
  transport: Transport;
  source: MessageSource;
  middleware?: readonly PublisherMiddleware[];
  /**
   * Signs every encoded envelope (docs/security.md). Default: the current key of `source.service` in
   * this process's keyring (BUS_SIGNING_KEYS; ephemeral dev keys outside production); `null` sends
   * unsigned messages (library tests only: a verifying consumer dead-letters them).
   */
  signer?: EnvelopeSigner | null;
  /**
   * Epoch ms on the platform's shared clock (`Platform.clock()`: Redis `TIME` on Redis) that dates
   * each message's id (UUIDv7) and `occurredAt`. Consumers compare that signed creation time with
   * the transport's (Redis) clock (dedupe-window.ts), so a host clock would compare clocks across
   * machines (DESIGN §6; break9 F2: an instance 3 min fast had every message it sent refused).
   * Default: this host's clock (in-memory mode, where it is the only clock).
   */
  clock?: () => number;
  /** `occurredAt` clock, for tests (overrides `clock` for `occurredAt` only). */
  now?: () => Date;
}

export class Publisher<E extends EventRegistry> {
  private readonly options: PublisherOptions<E>;
  private readonly signer: EnvelopeSigner | null;
  private readonly newId: (at?: number) => string;
  /** Whether the first send has checked for keys no other process can verify. */
  private keysChecked = false;

  /** Throws when no signing key is configured for `source.service` (the service must not start). */
  constructor(options: PublisherOptions<E>) {
    this.options = options;
    this.signer =
      options.signer === undefined
        ? createSigner(getProcessKeyring(), options.source.service)
        : options.signer;
    const clock = options.clock;
    this.newId = clock ? messageIdGenerator(clock) : newMessageId;
  }

  get source(): MessageSource {
    return this.options.source;
  }

  /** Validates the payload and builds the envelope and wire message, without sending anything. */
  prepare<N extends EventName<E>>(
    event: N,
    payload: EventInput<E, N>,
    options: PublishOptions = {},
  ): PreparedMessage<EventPayload<E, N>> {
    const definition = getDefinition(this.options.events, event);
    const parsed = parsePayload(this.options.events, event, payload) as EventPayload<E, N>;
    // One clock read dates both the id and occurredAt (they never disagree).
    const at = this.options.clock ? this.options.clock() : Date.now();
    const id = options.id ?? this.newId(at);
    const envelope: Envelope<EventPayload<E, N>> = {
      id,
      event,
      version: definition.version,
      occurredAt: (options.occurredAt ?? this.options.now?.() ?? new Date(at)).toISOString(),
      source: this.options.source,
      correlationId: options.correlationId ?? id,
      ...(options.causationId === undefined ? {} : { causationId: options.causationId }),
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
      // Only a W3C traceparent goes out; any other (a caller's bug) starts a fresh trace instead.
      traceparent:
        options.traceparent !== undefined && isTraceparent(options.traceparent)
          ? options.traceparent
          : childTraceparent(),
      attributes: options.attributes ?? {},
      payload: parsed,
    };
    if (this.options.middleware?.length) runPublisherMiddleware(this.options.middleware, envelope);
    const encoded = encodeEnvelope(envelope);
    const body = this.signer ? this.signer.sign(encoded, definition.owner) : encoded;
    // Every consumer would dead-letter it unread (MESSAGE_TOO_LARGE): fail here, at the cause.
    const bytes = oversizedBytes(body, MAX_ENVELOPE_BYTES);
    if (bytes !== undefined) throw new MessageTooLargeError(bytes, MAX_ENVELOPE_BYTES);
    const message = { topic: event, owner: definition.owner, id, body };
    return { envelope, message };
  }

  /** Validates the payload and hands the message to the transport. */
  async publish<N extends EventName<E>>(
    event: N,
    payload: EventInput<E, N>,
    options: PublishOptions = {},
  ): Promise<Envelope<EventPayload<E, N>>> {
    const prepared = this.prepare(event, payload, options);
    await this.send([prepared]);
    return prepared.envelope;
  }

  /**
   * Publishes prepared messages in one transport call (one round trip on Redis). Not atomic (break20
   * F12): a pipeline of XADDs, per owner's hash slot, so a failure or a killed process part-way
   * leaves a prefix published, and sending the batch again publishes that prefix twice (same ids:
   * the idempotency middleware runs them once). All-or-nothing with a state change: the outbox
   * (`OUTBOX_LUA`, transports/redis-outbox.ts).
   */
  async send(prepared: readonly PreparedMessage[]): Promise<void> {
    if (!this.keysChecked) {
      this.keysChecked = true;
      // Over Redis another process reads these: with made-up keys it dead-letters every one.
      if (this.signer?.ephemeral && this.options.transport.kind !== "memory") warnEphemeralKeys();
    }
    await this.options.transport.publish(prepared.map((p) => p.message));
  }
}

function runPublisherMiddleware(middleware: readonly PublisherMiddleware[], envelope: Envelope): void {
  const dispatch = (index: number): void => {
    const layer = middleware[index];
    if (layer) layer(envelope, () => dispatch(index + 1));
  };
  dispatch(0);
}
