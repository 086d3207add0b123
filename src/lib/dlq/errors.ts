import { BusError } from "../bus/errors.js";
import type { DeadLetterAuditEntry } from "./dead-letter-store.js";

/**
 * No dead-letter record has this id (never parked, or purged). `audit` is the record's trail when
 * one is still kept (a purged record's, for the audit window): what `inspect` answers with it.
 */
export class DeadLetterNotFoundError extends BusError {
  readonly recordId: string;
  readonly audit: readonly DeadLetterAuditEntry[];

  constructor(recordId: string, audit: readonly DeadLetterAuditEntry[] = []) {
    super("DLQ_NOT_FOUND", `No dead-letter record "${recordId}"`);
    this.name = "DeadLetterNotFoundError";
    this.recordId = recordId;
    this.audit = audit;
  }
}

/**
 * Something is stored under the record's key, but it is not a record this release can read (a
 * status it does not know, data that does not parse: planted by a service's Redis user, a hand
 * edit, a newer release): it is not listed, retried nor archived; only a purge by its id
 * (`DELETE /dlq/:id`) removes it (break25 F1). Its content is never echoed.
 */
export class DeadLetterMalformedError extends BusError {
  readonly recordId: string;

  constructor(recordId: string) {
    super(
      "DLQ_MALFORMED",
      `Dead-letter record "${recordId}" is stored in a form that cannot be read: it is not listed, retried or archived; remove it with DELETE /dlq/:id`,
    );
    this.name = "DeadLetterMalformedError";
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

/**
 * Another retry of the record, run at the same time, was accepted first (break13 F1): the record's
 * retry count moved between this retry's read and its mark. Its replay went out once, under that
 * retry's replay id (this one's send was the same replay id, so not sent again); nothing was
 * marked or audited for this request.
 */
export class DeadLetterRetryConflictError extends BusError {
  readonly recordId: string;

  constructor(recordId: string) {
    super(
      "DLQ_RETRY_CONFLICT",
      `Dead-letter record "${recordId}" was retried by another request at the same time; this request sent nothing more: inspect the record, and retry again only if another replay is wanted`,
    );
    this.name = "DeadLetterRetryConflictError";
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

/**
 * The retry's replays were sent, and then the store did not confirm their marks (a timeout, a
 * lost connection: break29 F3). Each mark and its audit entry are written together or not at all,
 * and a mark already issued may still land: the records may be marked retried (then audited) or
 * left as they were. Not "nothing happened": read the records before retrying. A record unchanged
 * (same `retries`) is retried with the same replay id, which its group gets once; a record marked
 * (`retries` + 1, a `retried` entry) was retried, and retrying it again sends another replay.
 * `retried` and `failed` are what a bulk retry settled before (`RetryManyResult`'s shape).
 */
export class DeadLetterRetryOutcomeUnknownError extends BusError {
  /** The records whose replay was sent and whose mark is unknown. */
  readonly recordIds: readonly string[];
  readonly retried: readonly string[];
  readonly failed: readonly { id: string; error: { code: string; message: string } }[];

  constructor(
    recordIds: readonly string[],
    cause: unknown,
    settled: {
      retried?: readonly string[];
      failed?: readonly { id: string; error: { code: string; message: string } }[];
    } = {},
  ) {
    // The cause is not echoed: a store timeout's own text says "retry shortly", which this is not.
    const which =
      recordIds.length === 1
        ? `dead-letter record "${recordIds[0]}"`
        : `${recordIds.length} dead-letter records`;
    super(
      "DLQ_RETRY_OUTCOME_UNKNOWN",
      `The replay of ${which} was sent, but the store did not confirm marking it retried: the outcome is unknown. Read the record before retrying (GET /dlq/:id): retries + 1 and a "retried" audit entry mean it was retried (retrying again sends another replay); unchanged, a retry sends the same replay again, which its group gets once`,
      { cause, details: { outcome: "unknown", ids: [...recordIds] } },
    );
    this.name = "DeadLetterRetryOutcomeUnknownError";
    this.recordIds = [...recordIds];
    this.retried = [...(settled.retried ?? [])];
    this.failed = [...(settled.failed ?? [])];
  }
}
