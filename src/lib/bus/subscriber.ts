import {
  type BusLogger,
  causalPublisher,
  type DedupedBy,
  type MessageContext,
  silentLogger,
} from "./context.js";
import { decodeEnvelope, type Envelope } from "./envelope.js";
import {
  BusError,
  CrashLoopError,
  describeError,
  usableThrown,
  MAX_ENVELOPE_BYTES,
  CreatedInFutureError,
  MessageInProgressError,
  MessageTooLargeError,
  NoHandlerError,
  oversizedBytes,
  TooOldToDeduplicateError,
} from "./errors.js";
import {
  type EventName,
  type EventPayload,
  type EventRegistry,
  getDefinition,
  parsePayload,
} from "./events.js";
import type { Publisher } from "./publisher.js";
import {
  CRASH_LOOP_BACKSTOP_FACTOR,
  hungLoopReason,
  crashLoopReason,
  DEFAULT_MUST_COMPLETE,
  type DeliveryPolicy,
  MUST_COMPLETE_MAX_SILENT_DELIVERIES,
  decideOnFailure,
  defaultBackoff,
  type HandlerOptions,
  type MustCompletePolicy,
  type RetryPolicy,
  unprovenCrashLoopReason,
} from "./retry-policy.js";
import { readThrottleOf } from "./read-throttle.js";
import type { AttemptFailure, Delivery, StopOptions, Transport, TransportSubscription } from "./transport.js";
import type { EnvelopeVerifier } from "../security/signing.js";
import { warnEphemeralKeys } from "../security/process-keys.js";

export type SubscriberMiddleware<O extends EventRegistry = EventRegistry> = (
  ctx: MessageContext<unknown, O>,
  next: () => Promise<void>,
) => Promise<void>;

export type EventHandler<P, O extends EventRegistry> = (
  payload: P,
  ctx: MessageContext<P, O>,
) => Promise<void> | void;

export type { DeliveryPolicy, HandlerOptions, MustCompletePolicy, RetryPolicy } from "./retry-policy.js";

/**
 * A message refused without running, and dead-lettered: its dead letter's error code, one of
 * `SIGNATURE_INVALID`, `WRONG_PRODUCER` (the verifier), `MESSAGE_TOO_LARGE` (the size bound),
 * `TOO_OLD_TO_DEDUPLICATE` and `CREATED_IN_FUTURE` (the dedupe window, dedupe-window.ts: thrown by
 * `createDedupeWindowMiddleware` or `createIdempotencyMiddleware`), or a custom verifier's code.
 */
export type RefusalReason = string;

export interface RefusalDetails {
  /** The delivery's topic: unsigned input when the verifier refused it (label metrics from a catalog). */
  event: string;
  /** `TOO_OLD_TO_DEDUPLICATE`: the age (ms) the message was refused at. */
  ageMs?: number;
  /** `CREATED_IN_FUTURE`: how far (ms) its signed creation time is ahead of the transport's clock. */
  aheadMs?: number;
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
  /**
   * The default policy's numbers. `maxSilentDeliveries`, when given, is the crash-loop limit of every
   * policy; else `maxAttempts` for the default policy, `MUST_COMPLETE_MAX_SILENT_DELIVERIES` (10) for
   * a must-complete message.
   */
  retry?: Partial<RetryPolicy>;
  /** The must-complete policy's numbers (defaults: 1 s base, 60 s cap, 6 h window). */
  mustComplete?: Partial<MustCompletePolicy>;
  /**
   * Delay in ms before an in-progress duplicate (another delivery of the message holds its
   * idempotency lease) is delivered again (default 1 s, jittered ±50%). It is deferred, not failed.
   */
  inProgressDelayMs?: number;
  /**
   * Deferrals after which an in-progress duplicate is dead-lettered (`DEFERRED_TOO_OFTEN`) instead
   * of deferred again (default 1 000: ~17 min at the default delay, past the 10 min `maxLeaseMs` and
   * the idempotency claim's 30 s, so only a claim that never lapses gets there). Every 60th
   * deferral of a message is logged at warn.
   */
  maxDeferrals?: number;
  /** Messages handled at once by this instance (default 16). */
  concurrency?: number;
  logger?: BusLogger;
  /**
   * Checks each message's signature and that its signer owns the event, before anything else reads
   * it; a failure is dead-lettered at once with reason `SIGNATURE_INVALID: …` or `WRONG_PRODUCER: …`
   * and reported to `onRefused`. Give `createVerifier(getProcessKeyring())` (the keys the
   * publishers sign with, BUS_SIGNING_KEYS). `null`: messages are not checked, on purpose (tests).
   * Left out: not checked either, and `start()` warns that messages are not verified (break20 F2:
   * a bare Subscriber ran anything written to its streams with XADD).
   */
  verifier?: EnvelopeVerifier | null;
  /**
   * Called once for every message refused without running (`RefusalReason`: a rejected signature,
   * an oversized envelope, a message too old to deduplicate or created in the future), before it is
   * dead-lettered: the one hook for the refusal metrics.
   */
  onRefused?: (reason: RefusalReason, details: RefusalDetails) => void;
  /**
   * Called once a message is dead-lettered (a crash loop, a rejected signature, an undecodable
   * message, a non-retryable error, attempts or the must-complete window spent), with its event
   * and the ms from the delivery reaching this subscriber to the dead letter being written (a
   * metric). Not called when writing the dead letter fails (the message stays pending).
   */
  onDeadLetter?: (event: string, durationMs: number) => void;
  now?: () => number;
  random?: () => number;
}

interface Registration<O extends EventRegistry> {
  handler: EventHandler<unknown, O>;
  policy: DeliveryPolicy;
  dedupedBy: DedupedBy;
}

/** Said at the start of a Subscriber without a verifier (see `SubscriberOptions.verifier`). */
export const UNVERIFIED_WARNING =
  "messages are not verified: any entry written to the streams read (XADD by anyone) is handled, unsigned or forged";
const UNVERIFIED_WARNING_CODE = "BUS_UNVERIFIED";
/** The process warning (no logger given) is emitted once per process. */
let unverifiedWarned = false;

/** Least time between two "created in the future" warnings about one publisher, ms. */
const FUTURE_WARNING_INTERVAL_MS = 60_000;

/**
 * Receives the events of a registry through a transport, validates them, runs the middleware
 * once per message and then every handler of the event. What happens on failure follows the
 * message's retry policy (see retry-policy.ts); a message of an event with any must-complete
 * handler is must-complete. Before running anything, a message delivered `maxSilentDeliveries`
 * times without an outcome (it crashed or killed its consumer) is dead-lettered without running.
 * A message with no handler in this group is dead-lettered, never acknowledged unhandled.
 */
export class Subscriber<E extends EventRegistry, O extends EventRegistry = EventRegistry> {
  private readonly handlers = new Map<string, Registration<O>[]>();
  private readonly retry: RetryPolicy;
  /** Crash-loop limit of a must-complete message (`retry.maxSilentDeliveries` when given). */
  private readonly mustCompleteSilentDeliveries: number;
  private readonly mustComplete: MustCompletePolicy;
  private readonly logger: BusLogger;
  private readonly now: () => number;
  private readonly random: () => number;
  private subscription: TransportSubscription | undefined;
  /** When each publisher (`service/instance`) was last warned about as created in the future. */
  private readonly futureWarnedAt = new Map<string, number>();

  constructor(private readonly options: SubscriberOptions<E, O>) {
    const maxAttempts = options.retry?.maxAttempts ?? 3;
    this.retry = {
      maxAttempts,
      backoff: options.retry?.backoff ?? defaultBackoff,
      maxSilentDeliveries: options.retry?.maxSilentDeliveries ?? maxAttempts,
    };
    this.mustCompleteSilentDeliveries =
      options.retry?.maxSilentDeliveries ?? MUST_COMPLETE_MAX_SILENT_DELIVERIES;
    this.mustComplete = { ...DEFAULT_MUST_COMPLETE, ...definedOnly(options.mustComplete ?? {}) };
    this.logger = (options.logger ?? silentLogger).child({
      group: options.group,
      consumer: options.consumer,
    });
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /**
   * Registers a handler; several handlers of one event run in order, inside one middleware pass.
   * `options.policy` "must-complete" is for messages that must happen (compensations, refunds).
   */
  on<N extends EventName<E>>(
    event: N,
    handler: EventHandler<EventPayload<E, N>, O>,
    options: HandlerOptions = {},
  ): this {
    getDefinition(this.options.events, event);
    if (this.subscription) throw new Error("register handlers before start()");
    const list = this.handlers.get(event) ?? [];
    list.push({
      handler: handler as EventHandler<unknown, O>,
      policy: options.policy ?? "default",
      dedupedBy: options.dedupedBy ?? "marks",
    });
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
    if (this.options.verifier === undefined) this.warnUnverified();
    // Over Redis the messages come from other processes: made-up keys verify none of them.
    else if (this.options.verifier?.ephemeral && this.options.transport.kind !== "memory")
      warnEphemeralKeys(this.options.logger ? this.logger : undefined);
    this.subscription = await this.options.transport.subscribe(
      {
        group: this.options.group,
        consumer: this.options.consumer,
        topics: this.topics(),
        ...(this.options.concurrency === undefined ? {} : { concurrency: this.options.concurrency }),
        ...readThrottleOf(this.options.middleware ?? []),
      },
      (delivery) => this.handle(delivery),
    );
  }

  /**
   * Stops reading and waits for handlers in flight; unsettled messages stay pending for redelivery.
   * `timeoutMs`: the longest wait, after which it returns with hung handlers still running, their
   * messages left pending for another instance to take over (StopOptions).
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.stop(options);
  }

  get running(): boolean {
    return this.subscription !== undefined;
  }

  private async handle(delivery: Delivery): Promise<void> {
    const startedAt = this.now();
    // The policy by topic (the body is not read yet): a topic without a handler is "default".
    const maxSilent =
      this.policyOf(this.handlers.get(delivery.topic) ?? []) === "must-complete"
        ? this.mustCompleteSilentDeliveries
        : this.retry.maxSilentDeliveries;
    const silentRuns = delivery.silentStartedRuns ?? delivery.silentDeliveries;
    const proven = delivery.silentDeliveries >= maxSilent;
    if (proven || silentRuns >= CRASH_LOOP_BACKSTOP_FACTOR * maxSilent) {
      // Hung runs are known not to be crashes (break26 F2): the reason says so.
      const hung = delivery.hungRuns ?? 0;
      const reason = proven
        ? crashLoopReason(delivery.silentDeliveries)
        : hung > 0
          ? hungLoopReason(silentRuns, hung)
          : unprovenCrashLoopReason(silentRuns);
      this.logger.error(
        {
          topic: delivery.topic,
          deliveryId: delivery.deliveryId,
          silentDeliveries: delivery.silentDeliveries,
          silentStartedRuns: silentRuns,
          hungRuns: hung,
        },
        "crash loop: message dead-lettered without running",
      );
      await this.deadLetter(
        delivery,
        { reason, failure: this.failureOf(delivery, new CrashLoopError(reason), startedAt) },
        startedAt,
      );
      return;
    }
    // Before the verifier: an oversized body must cost nothing more (its HMAC, its DLQ record).
    const bytes = oversizedBytes(delivery.body, MAX_ENVELOPE_BYTES);
    if (bytes !== undefined) {
      return this.rejectBeforeHandling(
        delivery,
        new MessageTooLargeError(bytes, MAX_ENVELOPE_BYTES),
        startedAt,
        "",
      );
    }
    const rejected = this.options.verifier ? this.signatureError(delivery) : undefined;
    if (rejected !== undefined) return this.rejectBeforeHandling(delivery, rejected, startedAt);
    let envelope: Envelope;
    try {
      envelope = decodeEnvelope(delivery.body);
      if (envelope.event !== delivery.topic) {
        throw new BusError(
          "TOPIC_MISMATCH",
          `envelope event "${envelope.event}" arrived on topic "${delivery.topic}"`,
        );
      }
      if (!this.handlers.has(envelope.event)) throw new NoHandlerError(envelope.event, this.options.group);
      envelope.payload = parsePayload(this.options.events, envelope.event, envelope.payload);
    } catch (error) {
      this.logger.warn(
        { err: describeError(error), topic: delivery.topic, deliveryId: delivery.deliveryId },
        "rejected message",
      );
      await this.fail(delivery, error, startedAt, "default");
      return;
    }
    const registrations = this.handlers.get(envelope.event) ?? [];
    const policy = this.policyOf(registrations);
    const dedupedBy = registrations.every((r) => r.dedupedBy === "record") ? "record" : "marks";
    const ctx = this.context(envelope, delivery, dedupedBy);
    try {
      await this.runMiddleware(ctx, () => this.runHandlers(ctx, registrations));
    } catch (thrown) {
      // Whatever was thrown, the failure path must not throw on it (break20 F8).
      const error = usableThrown(thrown);
      if (error instanceof MessageInProgressError) {
        // Another delivery of this message is running: wait for it, without spending an attempt.
        const base = this.options.inProgressDelayMs ?? 1_000;
        const delayMs = base / 2 + this.random() * base;
        const deferrals = (delivery.deferrals ?? 0) + 1;
        if (deferrals > (this.options.maxDeferrals ?? 1_000)) {
          // The claim holding it never lapses (break20 F6): park it rather than defer for ever.
          const reason = `DEFERRED_TOO_OFTEN: in progress elsewhere through ${deferrals - 1} deferrals`;
          ctx.logger.error({ deferrals: deferrals - 1 }, "message deferred too often; dead-lettered");
          await this.deadLetter(
            delivery,
            { reason, failure: this.failureOf(delivery, error, startedAt) },
            startedAt,
          );
          return;
        }
        if (deferrals % 60 === 0)
          ctx.logger.warn({ deferrals }, "message still in progress elsewhere; deferred again");
        else ctx.logger.debug({ delayMs }, "message in progress elsewhere; deferred");
        await delivery.defer(delayMs);
        return;
      }
      await this.fail(delivery, error, startedAt, policy, ctx.logger, envelope);
      return;
    }
    await delivery.ack();
  }

  /**
   * Said at every start without a verifier: to its logger, and without one (the library is silent
   * then) as a process warning on stderr, once per process.
   */
  private warnUnverified(): void {
    const message = `${UNVERIFIED_WARNING}: pass \`verifier\` (createVerifier(getProcessKeyring())), or \`verifier: null\` to run unverified on purpose`;
    if (this.options.logger) this.logger.warn({ code: UNVERIFIED_WARNING_CODE }, message);
    else if (!unverifiedWarned) {
      unverifiedWarned = true;
      process.emitWarning(message, { code: UNVERIFIED_WARNING_CODE });
    }
  }

  /**
   * A warning per publisher per `FUTURE_WARNING_INTERVAL_MS`: every such delivery of a publisher
   * whose clock is off is dead-lettered (and counted by the caller's metric); one line a minute
   * names it.
   */
  private warnFutureOnce(envelope: Envelope, error: CreatedInFutureError): void {
    const publisher = `${envelope.source.service}/${envelope.source.instance}`;
    const at = this.now();
    const last = this.futureWarnedAt.get(publisher);
    if (last !== undefined && at - last < FUTURE_WARNING_INTERVAL_MS) return;
    // Bounded: instances come and go; forgetting them only means one more warning.
    if (this.futureWarnedAt.size >= 1_000) this.futureWarnedAt.clear();
    this.futureWarnedAt.set(publisher, at);
    this.logger.warn(
      { publisher, event: envelope.event, aheadMs: error.aheadMs, marginMs: error.marginMs },
      "message signed as created in the future (publisher clock off?): dead-lettered, retry it from the DLQ once its time has come",
    );
  }

  /**
   * Why the message must not be handled (unsigned, forged, tampered or wrong owner), or undefined.
   * Synchronous: a valid message (every message but an attack's) costs no extra await.
   */
  private signatureError(delivery: Delivery): unknown {
    try {
      const { owner } = getDefinition(this.options.events, delivery.topic);
      this.options.verifier!.verify(delivery.body, delivery.topic, owner);
      return undefined;
    } catch (error) {
      return error ?? new Error("verification failed");
    }
  }

  /**
   * Dead-letters a message rejected before handling (the verifier, the size bound), counts it, logs
   * it (never its body); `body` replaces the body kept in the record.
   */
  private async rejectBeforeHandling(
    delivery: Delivery,
    error: unknown,
    startedAt: number,
    body?: string,
  ): Promise<void> {
    const failure = this.failureOf(delivery, error, startedAt);
    const code = failure.error.code ?? "SIGNATURE_INVALID";
    this.options.onRefused?.(code, { event: delivery.topic });
    // Never the body: it is untrusted and may hold secrets.
    this.logger.warn(
      { err: failure.error, topic: delivery.topic, deliveryId: delivery.deliveryId },
      "message rejected before handling",
    );
    const reason = `${code}: ${failure.error.message}`;
    await this.deadLetter(delivery, { reason, failure, ...(body === undefined ? {} : { body }) }, startedAt);
  }

  private context(envelope: Envelope, delivery: Delivery, dedupedBy: DedupedBy): MessageContext<unknown, O> {
    const publisher = causalPublisher(this.options.publisher, envelope);
    return {
      event: envelope.event,
      payload: envelope.payload,
      envelope,
      attempt: delivery.attempt,
      enqueuedAt: delivery.enqueuedAt,
      ageMs: () => delivery.ageMs(),
      ...(delivery.now ? { now: () => delivery.now!() } : {}),
      firstDeliveredAt: delivery.firstDeliveredAt,
      deliveryCount: delivery.deliveryCount,
      replay: delivery.replay,
      dedupedBy,
      group: this.options.group,
      signal: delivery.signal,
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

  /** A message of an event with any must-complete handler is must-complete. */
  private policyOf(registrations: readonly Registration<O>[]): DeliveryPolicy {
    return registrations.some((r) => r.policy === "must-complete") ? "must-complete" : "default";
  }

  private async runHandlers(
    ctx: MessageContext<unknown, O>,
    registrations: readonly Registration<O>[],
  ): Promise<void> {
    for (const { handler } of registrations) await handler(ctx.payload, ctx);
  }

  private failureOf(delivery: Delivery, error: unknown, startedAt: number): AttemptFailure {
    const now = this.now();
    return {
      attempt: delivery.attempt,
      at: new Date(now).toISOString(),
      durationMs: now - startedAt,
      error: describeError(error),
    };
  }

  /**
   * The one failure path: retry the delivery later or dead-letter it, as the policy decides.
   * `envelope`: the decoded message, when it decoded (names the publisher of a message created in
   * the future).
   */
  private async fail(
    delivery: Delivery,
    error: unknown,
    startedAt: number,
    policy: DeliveryPolicy,
    logger = this.logger,
    envelope?: Envelope,
  ): Promise<void> {
    const failure = this.failureOf(delivery, error, startedAt);
    this.reportRefusal(delivery, error);
    const decision = decideOnFailure(
      {
        error,
        message: failure.error.message,
        attempt: delivery.attempt,
        waitedAttempts: delivery.waitedAttempts,
        policy,
        ageMs: delivery.ageMs(),
      },
      this.retry,
      this.mustComplete,
      this.random,
    );
    if (decision.action === "retry") {
      logger.warn(
        { err: failure.error, attempt: delivery.attempt, delayMs: decision.delayMs, policy },
        "handler failed, will retry",
      );
      await delivery.retry(decision.waited ? { ...failure, waited: true } : failure, decision.delayMs);
      return;
    }
    if (error instanceof CreatedInFutureError && envelope) {
      // Not retryable: dead-lettered at once (bounded, visible; an operator retries it when its
      // time has come), its reason the error's own (it says so). One warning per publisher per
      // minute, not an error line per message of a flood.
      this.warnFutureOnce(envelope, error);
      await this.deadLetter(delivery, { reason: error.message, failure }, startedAt);
      return;
    }
    logger.error(
      { err: failure.error, attempt: delivery.attempt, policy, reason: decision.reason },
      "message dead-lettered",
    );
    await this.deadLetter(delivery, { reason: decision.reason, failure }, startedAt);
  }

  /** Reports a refusal of the dedupe window (thrown by a middleware) to `onRefused`. */
  private reportRefusal(delivery: Delivery, error: unknown): void {
    const event = delivery.topic;
    if (error instanceof TooOldToDeduplicateError) {
      this.options.onRefused?.(error.code, { event, ageMs: (error.details as { ageMs: number }).ageMs });
    } else if (error instanceof CreatedInFutureError) {
      this.options.onRefused?.(error.code, { event, aheadMs: error.aheadMs });
    }
  }

  private async deadLetter(
    delivery: Delivery,
    request: Parameters<Delivery["deadLetter"]>[0],
    startedAt: number,
  ): Promise<void> {
    await delivery.deadLetter(request);
    this.options.onDeadLetter?.(delivery.topic, this.now() - startedAt);
  }
}

/** Drops keys whose value is undefined, so they do not override defaults in a spread. */
function definedOnly<T extends object>(value: Partial<T>): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
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
