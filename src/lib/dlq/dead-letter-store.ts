import type { AttemptFailure } from "../bus/transport.js";
import type { DeadLetterPage, DeadLetterPageOptions, IndexEntry } from "./paging.js";

export type DeadLetterStatus = "dead" | "retried" | "archived";

/** A parked message with everything needed to understand and replay it. */
export interface DeadLetterRecord {
  /** Stable id: the same message dead-lettered twice by one group is one record. */
  id: string;
  group: string;
  topic: string;
  owner: string;
  /** Transport id of the delivery that gave up (stream entry id). */
  deliveryId: string;
  /** The encoded envelope exactly as received (it may be malformed: that can be the reason). */
  body: string;
  /** Decoded from the body when possible, for filtering. */
  envelopeId?: string;
  event?: string;
  sourceService?: string;
  reason: string;
  /** Every attempt's failure, oldest first. */
  attempts: AttemptFailure[];
  deadLetteredAt: string;
  status: DeadLetterStatus;
  /** Times the record was sent back to its group. */
  retries: number;
}

export interface DeadLetterFilter {
  event?: string;
  group?: string;
  sourceService?: string;
  status?: DeadLetterStatus;
  /** ISO time bounds on deadLetteredAt, inclusive; compared as instants (any UTC offset). */
  from?: string;
  to?: string;
  limit?: number;
}

export interface DeadLetterAuditEntry {
  at: string;
  recordId: string;
  action: "dead-lettered" | "retried" | "archived" | "purged";
  actor: string;
  detail?: string;
}

/** What `DeadLetterStore.markRetried` did with one record. */
export type MarkRetriedResult = "retried" | "archived" | "conflict" | "missing";

/** Storage port of the dead-letter queue; memory and Redis adapters pass one shared suite. */
export interface DeadLetterStore {
  /** Adds a record; a record with the same id already there is kept as is (idempotent). Returns true when added. */
  add(record: DeadLetterRecord): Promise<boolean>;
  get(id: string): Promise<DeadLetterRecord | undefined>;
  /** Newest first. */
  list(filter?: DeadLetterFilter): Promise<DeadLetterRecord[]>;
  /** One page, newest first, bounded in records and index entries examined (see paging.ts). */
  page(filter: DeadLetterFilter, options: DeadLetterPageOptions): Promise<DeadLetterPage>;
  /** Sets status and retry count of an existing record; false when there is none. */
  update(id: string, change: { status: DeadLetterStatus; retries?: number }): Promise<boolean>;
  /**
   * The next `count` entries of the time index, oldest first, strictly after `after` (by time, then
   * id) and dead-lettered before `beforeMs` when given, each with its record: the bounded batches
   * bulk operations walk. O(count) (plus the entries sharing `after`'s millisecond).
   */
  oldest(
    after: IndexEntry | undefined,
    count: number,
    beforeMs?: number,
  ): Promise<{ entry: IndexEntry; record: DeadLetterRecord | undefined }[]>;
  /**
   * The newest entry of the time index (latest time, then largest id), or undefined when empty:
   * the upper bound a bulk operation snapshots when it starts. O(log n).
   */
  newest(): Promise<IndexEntry | undefined>;
  /**
   * Marks records retried, each only if its retry count is still `fromRetries` (the count read before
   * its replay was sent): a compare-and-set, so of concurrent retries that read the same count one
   * is accepted. Sets `retries` to `fromRetries + 1` and the status to "retried" (an "archived" one
   * stays archived: the replay was sent, and no later retry may be). In one round trip, atomic per
   * record; one result per change: "retried", "archived" (marked, status kept), "conflict" (the
   * count moved: another retry was accepted) or "missing" (no such record: purged, and this call is
   * the first to mark that replay, `<id>#<fromRetries + 1>`, so its retry is accepted). Of several
   * calls finding the record purged for the same replay, one gets "missing" and the others
   * "conflict": the claim is kept RETRY_OF_PURGED_CLAIM_TTL_MS (24 h).
   */
  markRetried(changes: readonly { id: string; fromRetries: number }[]): Promise<MarkRetriedResult[]>;
  /** Deletes records (by id); returns how many existed. Callers send bounded batches. */
  remove(ids: readonly string[]): Promise<number>;
  appendAudit(entry: DeadLetterAuditEntry): Promise<void>;
  /** `appendAudit` of each entry, in order, in one round trip. */
  appendAudits(entries: readonly DeadLetterAuditEntry[]): Promise<void>;
  /** Oldest first. */
  audit(recordId?: string): Promise<DeadLetterAuditEntry[]>;
}

/**
 * Whether a record passes every criterion of a filter except `limit` (shared by the adapters).
 * A record whose body could not be decoded (malformed: often the reason it is here) has no
 * `event`/`sourceService`; it is matched by its stream's topic and owning service instead.
 */
export function matchesFilter(record: DeadLetterRecord, filter: DeadLetterFilter): boolean {
  // Instants, not text: "2024-01-01T08:00-05:00" is after "2024-01-01T12:00:00.000Z".
  const at = Date.parse(record.deadLetteredAt);
  return (
    (!filter.event || (record.event ?? record.topic) === filter.event) &&
    (!filter.group || record.group === filter.group) &&
    (!filter.sourceService || (record.sourceService ?? record.owner) === filter.sourceService) &&
    (!filter.status || record.status === filter.status) &&
    (!filter.from || at >= Date.parse(filter.from)) &&
    (!filter.to || at <= Date.parse(filter.to))
  );
}

export function deadLetterId(group: string, topic: string, deliveryId: string): string {
  return `${group}|${topic}|${deliveryId}`;
}
