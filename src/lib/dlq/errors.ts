import { BusError } from "../bus/errors.js";

/** No dead-letter record has this id (never parked, or purged). */
export class DeadLetterNotFoundError extends BusError {
  readonly recordId: string;

  constructor(recordId: string) {
    super("DLQ_NOT_FOUND", `No dead-letter record "${recordId}"`);
    this.name = "DeadLetterNotFoundError";
    this.recordId = recordId;
  }
}

/** Archived records are kept as evidence only: an operator decided they must never be replayed. */
export class DeadLetterArchivedError extends BusError {
  readonly recordId: string;

  constructor(recordId: string) {
    super("DLQ_ARCHIVED", `Dead-letter record "${recordId}" is archived and cannot be retried`);
    this.name = "DeadLetterArchivedError";
    this.recordId = recordId;
  }
}

/** The transport refused the replay; the record is left unchanged, so trying again is safe. */
export class DeadLetterRedeliveryError extends BusError {
  readonly recordId: string;

  constructor(recordId: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super("DLQ_REDELIVERY_FAILED", `Redelivery of dead-letter record "${recordId}" failed: ${reason}`, {
      retryable: true,
      cause,
    });
    this.name = "DeadLetterRedeliveryError";
    this.recordId = recordId;
  }
}

/** A record or query the store cannot index (e.g. deadLetteredAt is not a date). */
export class DeadLetterInvalidError extends BusError {
  constructor(message: string) {
    super("DLQ_INVALID", message);
    this.name = "DeadLetterInvalidError";
  }
}
