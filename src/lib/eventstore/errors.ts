/**
 * Typed errors of the event store, with stable string codes. `retryable` follows the bus
 * convention (the subscriber reads it duck-typed), so a handler that loses an optimistic
 * concurrency race is retried: it reloads the stream and decides again.
 */
import type { ExpectedVersion, StoredEvent } from "./event-store.js";

export class EventStoreError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details?: unknown;

  constructor(code: string, message: string, options: { retryable?: boolean; details?: unknown } = {}) {
    super(message);
    this.name = "EventStoreError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

/**
 * The stream moved since the caller read it: reload, decide again, append again. When the expected
 * version was a number below the stream's, `missed` holds the events after it (read by the refused
 * append in the same atomic step): a caller that keeps a folded state can catch up from them
 * instead of reading the stream again.
 */
export class ConcurrencyError extends EventStoreError {
  readonly streamId: string;
  readonly expected: ExpectedVersion;
  readonly actual: number;
  readonly missed: readonly StoredEvent[] | undefined;

  constructor(streamId: string, expected: ExpectedVersion, actual: number, missed?: readonly StoredEvent[]) {
    super(
      "CONCURRENCY_CONFLICT",
      `Stream "${streamId}" is at version ${actual}, expected ${String(expected)}`,
      { retryable: true, details: { streamId, expected, actual } },
    );
    this.name = "ConcurrencyError";
    this.streamId = streamId;
    this.expected = expected;
    this.actual = actual;
    this.missed = missed;
  }
}

/**
 * The append's `applyBy` deadline had passed on the store's clock (Redis `TIME`) when its atomic
 * step ran: nothing was written (break35 F1). Not retryable: the deadline stays passed.
 */
export class AppendDeadlineError extends EventStoreError {
  constructor(streamId: string, applyBy: number, storeNow: number) {
    super(
      "APPEND_DEADLINE_PASSED",
      `Append to "${streamId}" refused: its deadline ${new Date(applyBy).toISOString()} passed (store time ${new Date(storeNow).toISOString()})`,
      { details: { streamId, applyBy, storeNow } },
    );
    this.name = "AppendDeadlineError";
  }
}

/** The append itself is malformed (no events, bad expected version, data that is not JSON). */
export class InvalidAppendError extends EventStoreError {
  constructor(reason: string) {
    super("INVALID_APPEND", `Invalid append: ${reason}`);
    this.name = "InvalidAppendError";
  }
}

/**
 * An outbox message belongs to another owner than the store's hash tag. Its event stream lives in
 * another slot, so it cannot be written in the same atomic step on Redis Cluster: refused up front
 * (by the memory adapter too, so the mistake shows in embedded mode and unit tests).
 */
export class OutboxOwnerError extends EventStoreError {
  constructor(tag: string, owner: string, topic: string) {
    super(
      "OUTBOX_CROSS_SLOT",
      `Outbox message "${topic}" is owned by "${owner}" but this event store writes in "{${tag}}"`,
    );
    this.name = "OutboxOwnerError";
  }
}

/** A read with a bad range or position. */
export class InvalidReadError extends EventStoreError {
  constructor(reason: string) {
    super("INVALID_READ", `Invalid read: ${reason}`);
    this.name = "InvalidReadError";
  }
}
