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

/**
 * One record to purge: its audit entry (`recordId` names it) and, for a purge by age, what must
 * still hold when it is deleted: the record's own `deadLetteredAt` as read (the purge checked it
 * against its cut-off, never the index's score: break25 F2) and, when the purge names one, its
 * status. Without `expect` whatever is stored under the id is deleted (a purge by id).
 */
export interface DeadLetterPurge {
  audit: DeadLetterAuditEntry;
  expect?: { deadLetteredAt: string; status?: DeadLetterStatus };
}

/**
 * An index entry a read met and took out of the way (break25 F1, F2): its record is gone
 * ("missing"), names another id or group ("foreign"), or cannot be read ("malformed": then the
 * entry is dropped from the index, the stored hash is kept for `DELETE /dlq/:id`), or the entry's
 * time is not the record's own ("redated": set back to the record's own time). Never the content.
 */
export interface DeadLetterSkip {
  id: string;
  reason: "missing" | "foreign" | "malformed" | "redated";
}

/** What `DeadLetterStore.markRetried` did with one record. */
export type MarkRetriedResult = "retried" | "archived" | "conflict" | "missing";

/**
 * One record for `DeadLetterStore.markRetried`: the retry count read before its replay was sent,
 * and the audit entries written in the same atomic step as the mark (break29 F3: a mark is never
 * left without its entry, whatever happens to the caller after it was issued).
 */
export interface MarkRetried {
  id: string;
  fromRetries: number;
  /** Appended with the mark when it is accepted ("retried" or "archived"). */
  audit?: DeadLetterAuditEntry;
  /** Appended instead when the record is found purged and this call takes the replay ("missing"). */
  auditIfPurged?: DeadLetterAuditEntry;
}

/** Storage port of the dead-letter queue; memory and Redis adapters pass one shared suite. */
export interface DeadLetterStore {
  /** Adds a record; a record with the same id already there is kept as is (idempotent). Returns true when added. */
  add(record: DeadLetterRecord): Promise<boolean>;
  /**
   * The record, or undefined when there is none or what is stored names another id or group.
   * @throws DeadLetterMalformedError when what is stored under the id cannot be read as a record.
   */
  get(id: string): Promise<DeadLetterRecord | undefined>;
  /**
   * Newest first. Every read of the index (list, page, oldest) skips entries that are not readable
   * records of their id, dropping them from the index (and sets an entry whose time is not its
   * record's own back to the record's), each reported to the `onSkip` listeners.
   */
  list(filter?: DeadLetterFilter): Promise<DeadLetterRecord[]>;
  /** One page, newest first, bounded in records and index entries examined (see paging.ts). */
  page(filter: DeadLetterFilter, options: DeadLetterPageOptions): Promise<DeadLetterPage>;
  /**
   * Sets status and retry count of an existing record, and appends `audit` when given, in one
   * atomic step (break29 F3: an archive is never left without its entry); false when there is
   * none (nothing changed, nothing audited).
   */
  update(
    id: string,
    change: { status: DeadLetterStatus; retries?: number },
    audit?: DeadLetterAuditEntry,
  ): Promise<boolean>;
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
   * record (with its audit entry: see MarkRetried); one result per change: "retried", "archived"
   * (marked, status kept), "conflict" (the count moved: another retry was accepted; nothing
   * audited) or "missing" (no such record: purged, and this call is the first to mark that replay,
   * `<id>#<fromRetries + 1>`, so its retry is accepted, audited with `auditIfPurged`). Every
   * accepted mark claims its replay (`<id>#<fromRetries + 1>`, kept RETRY_OF_PURGED_CLAIM_TTL_MS,
   * 24 h): a later call finding the record purged for a replay already accepted, whether marked
   * before the purge or found purged, gets "conflict" (break29 F2).
   */
  markRetried(changes: readonly MarkRetried[]): Promise<MarkRetriedResult[]>;
  /** Deletes records (by id); returns how many existed. Callers send bounded batches. */
  remove(ids: readonly string[]): Promise<number>;
  /**
   * Purges records: per record, atomically, checks `expect` against what is stored, appends the
   * audit entry and deletes the record and its index entry. One result per purge: true when
   * deleted (and audited); false when nothing was stored under the id (its index entry, if any, is
   * dropped; nothing audited) or `expect` no longer holds (kept; nothing audited). One round trip.
   */
  purge(purges: readonly DeadLetterPurge[]): Promise<boolean[]>;
  /** Registers a listener of skipped index entries (see `list`); returns its removal. */
  onSkip(listener: (skip: DeadLetterSkip) => void): () => void;
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
