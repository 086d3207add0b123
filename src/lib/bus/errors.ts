import { capText, describeThrown, isErrorSafe, propertyOf } from "./error-text.js";

/**
 * Typed errors with stable string codes. `retryable` tells the subscriber whether another
 * delivery attempt can succeed; non-retryable failures are dead-lettered at once.
 */
export class BusError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: unknown;
  /**
   * Ms from now before which a retry is pointless (e.g. the time a circuit breaker stays open): the
   * subscriber's retry delay is never shorter. A hint of the failing dependency, not a policy.
   */
  readonly retryAfterMs?: number;
  /**
   * The error says the outcome is not known yet (a dependency still working on it, or unreachable),
   * not that the message is bad: a retryable error that waits under every policy (see `waits`).
   */
  readonly waits?: true;

  constructor(
    code: string,
    message: string,
    options: {
      retryable?: boolean;
      details?: unknown;
      cause?: unknown;
      retryAfterMs?: number;
      waits?: boolean;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "BusError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
    if (options.retryAfterMs !== undefined && options.retryAfterMs > 0)
      this.retryAfterMs = options.retryAfterMs;
    if (options.waits === true) this.waits = true;
  }
}

/** The `retryAfterMs` hint of an error (0 when it has none). */
export function retryAfterOf(error: unknown): number {
  const hint = isErrorSafe(error) && error instanceof BusError ? error.retryAfterMs : undefined;
  return hint !== undefined && Number.isFinite(hint) && hint > 0 ? hint : 0;
}

/** The event name is not part of the registry the publisher or subscriber was built with. */
export class UnknownEventError extends BusError {
  constructor(event: string) {
    super("UNKNOWN_EVENT", `Unknown event "${event}"`);
    this.name = "UnknownEventError";
  }
}

/** A payload (or a whole envelope) failed its schema. Never retryable: the bytes will not change. */
export class ValidationError extends BusError {
  readonly issues: readonly { path: string; message: string }[];

  constructor(event: string, issues: readonly { path: string; message: string }[]) {
    super(
      "INVALID_PAYLOAD",
      `Invalid payload for "${event}": ${issues.map((i) => `${i.path || "(root)"} ${i.message}`).join("; ")}`,
      {
        details: issues,
      },
    );
    this.name = "ValidationError";
    this.issues = issues;
  }
}

/** A message that cannot be decoded into an envelope at all. */
export class MalformedMessageError extends BusError {
  constructor(reason: string) {
    super("MALFORMED_MESSAGE", `Malformed message: ${reason}`);
    this.name = "MalformedMessageError";
  }
}

/** Another delivery of the same message holds the idempotency lease; try again later. */
export class MessageInProgressError extends BusError {
  constructor(key: string) {
    super("MESSAGE_IN_PROGRESS", `Message ${key} is being processed elsewhere`, { retryable: true });
    this.name = "MessageInProgressError";
  }
}

/** Unreadable (a throwing getter or Proxy trap) counts as unsaid: retryable, as a plain error. */
export function isRetryable(error: unknown): boolean {
  try {
    if (error instanceof BusError) return error.retryable;
    if (error && typeof error === "object" && "retryable" in error)
      return Boolean((error as { retryable: unknown }).retryable);
  } catch {
    // Reading the value threw: nothing said it is not retryable.
  }
  return true;
}

/**
 * The error says the shared store or broker was unreachable, not that the message is bad: an error
 * object with `outage: true` (e.g. lib/redis's ReplyLostError, a reply lost to a dropped connection).
 * The retry policy then spends no poison budget on it (see decideOnFailure).
 */
export function isOutage(error: unknown): boolean {
  return typeof error === "object" && propertyOf(error, "outage") === true;
}

/**
 * The error says the message's outcome is not known yet (an error object with `waits: true`, e.g. a
 * carrier booking still in flight): like an outage, the retry policy spends no poison budget on it
 * and waits inside the must-complete window (see decideOnFailure), so a handler on the default
 * policy keeps its 3 attempts for every other error.
 */
export function waits(error: unknown): boolean {
  return typeof error === "object" && propertyOf(error, "waits") === true;
}

/**
 * The name, message and code the bus records and logs of a thrown value: each capped at
 * `MAX_ERROR_TEXT_BYTES` and never throwing, whatever was thrown (see error-text.ts).
 */
export function describeError(error: unknown): { name: string; message: string; code?: string } {
  return describeThrown(error);
}

/**
 * The value the failure path works with: `error` itself, or, when even asking what it is throws (a
 * Proxy whose getPrototypeOf trap throws), a plain Error with its description, so `instanceof` and
 * the retry policy's checks cannot make the failure path fail (break20 F8).
 */
export function usableThrown(error: unknown): unknown {
  try {
    void (error instanceof Error);
    return error;
  } catch {
    const { message } = describeThrown(error);
    return new Error(message);
  }
}

/**
 * A consumer group could not be created on its stream and does not exist (break20 F4): e.g. Redis
 * at `maxmemory` under noeviction refuses `XGROUP CREATE … MKSTREAM` for a stream not there yet.
 * Retryable: it can succeed once memory is freed. An existing group is never an error.
 */
export class ConsumerGroupError extends BusError {
  constructor(
    readonly stream: string,
    readonly group: string,
    /** Redis's reply, as it gave it. */
    readonly reason: string,
    cause?: unknown,
  ) {
    super(
      "GROUP_NOT_CREATED",
      `cannot create consumer group "${group}" on stream "${stream}": ${capText(reason)}`,
      {
        retryable: true,
        details: { stream, group },
        cause,
      },
    );
    this.name = "ConsumerGroupError";
  }
}

/**
 * A handler called `ctx.publish` or `ctx.prepare` in a Subscriber made without a `publisher`: a
 * setup error no retry mends, so the message is dead-lettered at once (newuser21 F1: it was retried
 * three times first); retry it from the DLQ once the Subscriber has its `publisher`.
 */
export class PublisherMissingError extends BusError {
  constructor() {
    super(
      "PUBLISHER_MISSING",
      "this subscriber was created without a publisher: ctx.publish is unavailable (pass `publisher` to new Subscriber)",
    );
    this.name = "PublisherMissingError";
  }
}

/** A delivered message has no handler in this group (a replay, a renamed event): parked, not acked. */
export class NoHandlerError extends BusError {
  constructor(event: string, group: string) {
    super("NO_HANDLER", `no handler for "${event}" in group "${group}" (a replay or a renamed event?)`);
    this.name = "NoHandlerError";
  }
}

/** A message delivered again and again without any outcome: it takes its consumer down. */
export class CrashLoopError extends BusError {
  constructor(reason: string) {
    super("CRASH_LOOP", reason);
    this.name = "CrashLoopError";
  }
}

/**
 * A message older than the idempotency window: the mark that would say "already handled" may have
 * expired, so running it could do the work twice (re-reserve stock of a failed order). Never
 * retryable: it only gets older. Dead-lettered for an operator to decide.
 */
export class TooOldToDeduplicateError extends BusError {
  /** `limitMs`: the age refused beyond, when less than the window (a clock-skew margin taken off). */
  constructor(ageMs: number, windowMs: number, limitMs: number = windowMs) {
    const limit =
      limitMs < windowMs
        ? `the ${limitMs} ms allowed (its idempotency marks live ${windowMs} ms, less a clock-skew margin)`
        : `the ${windowMs} ms its idempotency marks live`;
    super(
      "TOO_OLD_TO_DEDUPLICATE",
      `message is ${ageMs} ms old, past ${limit}: it can no longer be deduplicated, so it is not run`,
      { details: { ageMs, windowMs, limitMs } },
    );
    this.name = "TooOldToDeduplicateError";
  }
}

/**
 * A message signed as created the clock-skew margin or more in the future: its publisher's clock
 * (since break9 F2 the platform's Redis-time estimate, so a broken one, or a forged-by-key-holder
 * date) is off. Run now, its dedupe marks would expire before the signed-age rule refuses a
 * re-added copy of it, and the copy would run again (break-late F5); deferred in memory, a flood
 * of them held memory and starved healthy messages (break9 F1). Not retryable: the Subscriber
 * dead-letters it at once with this reason (bounded and visible); an operator retries it from the
 * DLQ once its signed time has come. Handlers that dedupe by record are exempt (dedupe-window.ts).
 */
export class CreatedInFutureError extends BusError {
  constructor(
    /** How far the signed creation time is ahead of the transport's clock, ms. */
    readonly aheadMs: number,
    /** The skew margin allowed, ms. */
    readonly marginMs: number,
  ) {
    super(
      "CREATED_IN_FUTURE",
      `message is signed as created ${aheadMs} ms in the future, past the ${marginMs} ms clock-skew margin (its publisher's clock is off): retry it from the DLQ once that time has come`,
      { retryable: false, details: { aheadMs, marginMs } },
    );
    this.name = "CreatedInFutureError";
  }
}

/**
 * The most bytes (UTF-8) an encoded, signed envelope may have: 1 MiB. Real envelopes are ~1 KiB;
 * the bound keeps one oversized entry from costing its size in every consumer (the verifier's HMAC
 * buffer, the dead-letter record, GET /dlq): break-sig F1/F4. Publishers refuse bigger envelopes;
 * consumers dead-letter them as `MESSAGE_TOO_LARGE` before verifying them, without their body.
 */
export const MAX_ENVELOPE_BYTES = 1_048_576;

/** UTF-8 size of `body` when it is over `maxBytes`, else undefined (measured only when it can be). */
export function oversizedBytes(body: string, maxBytes: number): number | undefined {
  // A UTF-16 code unit is 1 to 3 UTF-8 bytes (a surrogate pair: 4 for 2): no count for small bodies.
  if (body.length * 3 <= maxBytes) return undefined;
  if (body.length > maxBytes) return body.length;
  const bytes = Buffer.byteLength(body);
  return bytes > maxBytes ? bytes : undefined;
}

/** An envelope over `MAX_ENVELOPE_BYTES`: never verified nor handled, never retryable. */
export class MessageTooLargeError extends BusError {
  constructor(bytes: number, maxBytes: number) {
    super(
      "MESSAGE_TOO_LARGE",
      `envelope is ${bytes} bytes or more, over the ${maxBytes}-byte limit: not verified, not run, body not kept`,
      { details: { bytes, maxBytes } },
    );
    this.name = "MessageTooLargeError";
  }
}
