import type { OutgoingMessage, Replay } from "../bus/transport.js";
import { bulkLimit, checkIdCount, DLQ_BULK_SCAN_LIMIT, walkBulk } from "./bulk.js";
import type { DeadLetterPage, DeadLetterPageOptions } from "./paging.js";
import {
  type DeadLetterAuditEntry,
  type DeadLetterFilter,
  type DeadLetterPurge,
  type DeadLetterRecord,
  type DeadLetterStatus,
  type DeadLetterStore,
  type MarkRetried,
  type MarkRetriedResult,
} from "./dead-letter-store.js";
import {
  DeadLetterArchivedError,
  DeadLetterInvalidError,
  DeadLetterMalformedError,
  DeadLetterNotFoundError,
  DeadLetterRedeliveryError,
  DeadLetterRetryConflictError,
  DeadLetterRetryOutcomeUnknownError,
} from "./errors.js";

/** Sends a message again to one consumer group only: the transport's `redeliver`. */
export type Redeliver = (group: string, message: OutgoingMessage) => Promise<void>;

/**
 * Sends replays to one group, each replay id at most once (the transport's `redeliverOnce`): what
 * lets a bulk retry that died half-way be run again without replaying a record twice.
 */
export type RedeliverOnce = (group: string, replays: readonly Replay[]) => Promise<number>;

/** Records per batch of a bulk retry or purge: no Redis command of theirs names more keys. */
export const DEFAULT_DLQ_BATCH_SIZE = 500;

export interface DeadLetterQueueOptions {
  store: DeadLetterStore;
  redeliver: Redeliver;
  /** When given, every retry goes through it (see RedeliverOnce); else through `redeliver`. */
  redeliverOnce?: RedeliverOnce;
  /** Clock for audit times (ms since epoch). */
  now?: () => number;
  /** Records per batch of `retryMany` and `purge` (default 500). */
  batchSize?: number;
  /** Index entries one `retryMany` or `purge` by filter examines at most (default DLQ_BULK_SCAN_LIMIT). */
  scanLimit?: number;
}

/** Who asked for an operation; every operation is audited with it. */
export interface ActorOptions {
  actor: string;
  /** Free text kept with the audit entry (a ticket number, the reason). */
  detail?: string;
}

export interface DeadLetterInspection {
  record: DeadLetterRecord;
  /** Oldest first. */
  audit: DeadLetterAuditEntry[];
}

export interface RetryManyResult {
  retried: string[];
  failed: { id: string; error: { code: string; message: string } }[];
  /** By filter: present when more records may match; pass it back as `cursor` to go on. */
  nextCursor?: string;
}

/**
 * One call's share of a bulk operation by filter (see bulk.ts): `limit` records at most (1 to
 * DLQ_BULK_MAX_LIMIT, default DLQ_BULK_DEFAULT_LIMIT), from `cursor` (a previous answer's
 * `nextCursor`, which goes on with the same run) or from the start.
 */
export interface BulkShare {
  limit?: number;
  cursor?: string;
}

/** Records to retry by filter: a filter (its `limit` the share's), and where to go on. */
export type RetryFilter = DeadLetterFilter & Pick<BulkShare, "cursor">;

/**
 * Records to purge: dead-lettered before `olderThan` (ISO time) or more than `maxAgeMs` ago,
 * optionally only those with `status`, a share of them at a time (BulkShare). A cut-off is
 * required so no call empties the queue by accident.
 */
export type PurgeCriteria = (
  { olderThan: string; status?: DeadLetterStatus } | { maxAgeMs: number; status?: DeadLetterStatus }
) &
  BulkShare;

/** What one purge call deleted, and (by criteria) where to go on when more may match. */
export interface PurgeResult {
  purged: string[];
  nextCursor?: string;
}

/**
 * Names one replay of a record: its id and the retry it is (`retries + 1`). The same retry run
 * twice (a crash after the send, before the record was marked) is one replay id, sent once; a
 * later deliberate retry of the record is another.
 */
export const replayIdOf = (record: DeadLetterRecord): string => `${record.id}#${record.retries + 1}`;

/** The message a record replays: the original bytes, under the original envelope id when known. */
export function replayMessage(record: DeadLetterRecord): OutgoingMessage {
  return { topic: record.topic, owner: record.owner, id: record.envelopeId ?? record.id, body: record.body };
}

function describeFailure(error: unknown): { code: string; message: string } {
  const code = error && typeof error === "object" && "code" in error ? error.code : undefined;
  return {
    code: typeof code === "string" ? code : "DLQ_RETRY_FAILED",
    message: error instanceof Error ? error.message : String(error),
  };
}

/** Operator actions on the dead-letter queue: list, inspect, retry, archive, purge; each audited. */
export class DeadLetterQueue {
  private readonly store: DeadLetterStore;
  private readonly redeliver: Redeliver;
  private readonly redeliverOnce: RedeliverOnce | undefined;
  private readonly now: () => number;
  private readonly batchSize: number;
  private readonly scanLimit: number;

  constructor(options: DeadLetterQueueOptions) {
    this.store = options.store;
    this.redeliver = options.redeliver;
    this.redeliverOnce = options.redeliverOnce;
    this.now = options.now ?? Date.now;
    this.batchSize = options.batchSize ?? DEFAULT_DLQ_BATCH_SIZE;
    this.scanLimit = options.scanLimit ?? DLQ_BULK_SCAN_LIMIT;
  }

  /** Newest first. */
  list(filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
    return this.store.list(filter);
  }

  /** One bounded page, newest first (`nextCursor` continues). */
  page(filter: DeadLetterFilter, options: DeadLetterPageOptions): Promise<DeadLetterPage> {
    return this.store.page(filter, options);
  }

  /**
   * The record with its audit trail, oldest first.
   * @throws DeadLetterNotFoundError when there is no record; it carries the record's trail when one
   *   is kept (a purged record's, for the audit window: break25 F4).
   * @throws DeadLetterMalformedError when what is stored cannot be read as a record.
   */
  async inspect(id: string): Promise<DeadLetterInspection> {
    const [record, audit] = await Promise.all([this.store.get(id), this.store.audit(id)]);
    if (!record) throw new DeadLetterNotFoundError(id, audit);
    return { record, audit };
  }

  /**
   * Sends the original message back to its group, then marks the record "retried" and audits it.
   * When the redelivery fails the record is left as it was, so the retry can simply be repeated.
   *
   * The mark is a compare-and-set on the retry count read before the send (break13 F1): of retries
   * of one record run at the same time, those that read the same count send the same replay id
   * (`<id>#<retries + 1>`, sent once by `redeliverOnce`), and only one is marked and audited; the
   * others fail with DLQ_RETRY_CONFLICT (409) having sent nothing more. So every accepted retry is
   * one replay and one audit entry, and `retries` counts them. A record archived while its replay
   * was on the way is counted but stays archived. Without `redeliverOnce` (a transport that cannot
   * tell a replay already sent) the record and trail stay true, but a refused retry may have sent
   * a copy. A record purged while its replay was on the way (break14 F1) cannot be marked, but the
   * replay was sent: the retry is accepted (the record is answered as it would have been marked)
   * and audited "retried" with a note saying so, after the purge's entry; answering 404 would tell
   * the operator nothing was sent and leave a replay with no audit entry. Of retries that read the
   * same count and both find the record purged, only the first to mark it is accepted (the store
   * claims the replay once); the others get DLQ_RETRY_CONFLICT, as they would had it not been purged.
   * The mark and its audit entry are one atomic step of the store (break29 F3), so a mark is never
   * left unaudited, and when that step fails or times out after the send (a stalled store) the
   * retry throws DeadLetterRetryOutcomeUnknownError, never an error saying nothing was done: the
   * record may be marked or not; a retry of it unmarked sends the same replay id (sent once).
   * @throws DeadLetterNotFoundError (none before the send), DeadLetterArchivedError,
   *   DeadLetterRedeliveryError (nothing marked), DeadLetterRetryConflictError,
   *   DeadLetterRetryOutcomeUnknownError (sent; marked and audited, or not: unknown).
   */
  async retry(id: string, options: ActorOptions): Promise<DeadLetterRecord> {
    const record = await this.require(id);
    if (record.status === "archived") throw new DeadLetterArchivedError(id);
    try {
      await this.send(record.group, [record]);
    } catch (error) {
      throw new DeadLetterRedeliveryError(id, error);
    }
    let marked: MarkRetriedResult | undefined;
    try {
      [marked] = await this.store.markRetried([this.markOf(record, options)]);
    } catch (error) {
      // The replay is out: whatever failed, this is not "nothing happened" (break29 F3).
      throw new DeadLetterRetryOutcomeUnknownError([id], error);
    }
    if (marked === "conflict" || marked === undefined) throw new DeadLetterRetryConflictError(id);
    if (marked === "missing") return { ...record, status: "retried", retries: record.retries + 1 };
    return { ...record, status: marked, retries: record.retries + 1 };
  }

  /**
   * Retries each record of `target` (ids in the order given, at most DLQ_BULK_MAX_LIMIT, or the
   * records a filter matches, oldest first so the group sees them in their original order) and
   * reports each outcome. A filter without a status means status "dead": records already retried
   * or archived are left alone; an archived record a filter matches fails DLQ_ARCHIVED, unsent. By filter, one call retries one share (BulkShare: `limit`, default
   * 100, at most 1,000, examining at most `scanLimit` index entries) and answers `nextCursor` when
   * more may match: the caller goes on with it (break17 F7: a call retried every record there
   * was). A run takes only the records there when its first call started (the cursor keeps that
   * bound). Works in batches of `batchSize` records: per batch one read of the index and records,
   * one send per group, one write of the statuses and one of the audit entries. Run again after a
   * crash, a filter retry finishes the job: records marked retried no longer match, and a record
   * sent but not yet marked is not sent again (its replay id is; see RedeliverOnce).
   * @throws DeadLetterInvalidError for too many ids, a limit out of range or a foreign cursor.
   */
  async retryMany(target: RetryFilter | readonly string[], options: ActorOptions): Promise<RetryManyResult> {
    const result: RetryManyResult = { retried: [], failed: [] };
    if (isIdList(target)) {
      checkIdCount([...new Set(target)]);
      const batches = chunks([...new Set(target)], this.batchSize);
      for (const [index, ids] of batches.entries()) {
        // A record that cannot be read fails alone (DLQ_MALFORMED), not the whole call (break25 F1).
        let records: (DeadLetterRecord | DeadLetterMalformedError | undefined)[];
        try {
          records = await Promise.all(
            ids.map((id) =>
              this.store.get(id).catch((error: unknown) => {
                if (error instanceof DeadLetterMalformedError) return error;
                throw error;
              }),
            ),
          );
        } catch (error) {
          // Earlier batches were replayed and marked: an error now would say nothing was done, and
          // the same call again would replay them twice (break30 F1). The rest fail, untouched.
          if (index === 0) throw error;
          for (const id of batches.slice(index).flat())
            result.failed.push({ id, error: describeFailure(error) });
          break;
        }
        const retryable: DeadLetterRecord[] = [];
        for (const [i, id] of ids.entries()) {
          const record = records[i];
          if (record instanceof DeadLetterMalformedError)
            result.failed.push({ id, error: describeFailure(record) });
          else if (!record)
            result.failed.push({ id, error: describeFailure(new DeadLetterNotFoundError(id)) });
          else if (record.status === "archived")
            result.failed.push({ id, error: describeFailure(new DeadLetterArchivedError(id)) });
          else retryable.push(record);
        }
        await this.retryBatch(retryable, options, result);
      }
      // Failures in the order the ids were given, whichever step found them.
      const at = new Map([...new Set(target)].map((id, i) => [id, i]));
      result.failed.sort((a, b) => (at.get(a.id) ?? 0) - (at.get(b.id) ?? 0));
      return result;
    }
    const { cursor, limit, ...filter } = target;
    const nextCursor = await walkBulk(
      this.store,
      {
        filter: { status: "dead", ...filter },
        limit: bulkLimit(limit),
        scanLimit: this.scanLimit,
        batchSize: this.batchSize,
        ...(cursor === undefined ? {} : { cursor }),
      },
      // A filter naming status "archived" matches archived records: each is refused, as by id,
      // never replayed (they were sent and counted).
      (records) => {
        for (const record of records.filter((r) => r.status === "archived"))
          result.failed.push({
            id: record.id,
            error: describeFailure(new DeadLetterArchivedError(record.id)),
          });
        return this.retryBatch(
          records.filter((r) => r.status !== "archived"),
          options,
          result,
        );
      },
    );
    return nextCursor === undefined ? result : { ...result, nextCursor };
  }

  /** Sends a batch (one call per group, oldest first), then marks and audits what was sent. */
  private async retryBatch(
    records: readonly DeadLetterRecord[],
    options: ActorOptions,
    result: RetryManyResult,
  ): Promise<void> {
    const byGroup = new Map<string, DeadLetterRecord[]>();
    for (const record of records) byGroup.set(record.group, [...(byGroup.get(record.group) ?? []), record]);
    const unsent = new Map<string, unknown>();
    for (const [group, batch] of byGroup) {
      try {
        await this.send(group, batch);
      } catch (error) {
        for (const record of batch) unsent.set(record.id, new DeadLetterRedeliveryError(record.id, error));
      }
    }
    const sent = records.filter((r) => !unsent.has(r.id));
    // The same compare-and-set as `retry`, each mark with its audit entry in one step: a record a
    // concurrent retry marked first is a conflict; one purged while its replay was on the way is
    // accepted (sent all the same: break14 F1) and audited with a note as `retry` does.
    let outcomes: MarkRetriedResult[];
    try {
      outcomes = await this.store.markRetried(sent.map((r) => this.markOf(r, options)));
    } catch (error) {
      // Sent, marks unknown (break29 F3): what this call settled before goes with the error.
      for (const record of records) {
        const failure = unsent.get(record.id);
        if (failure !== undefined) result.failed.push({ id: record.id, error: describeFailure(failure) });
      }
      throw new DeadLetterRetryOutcomeUnknownError(
        sent.map((r) => r.id),
        error,
        result,
      );
    }
    const outcomeOf = new Map(sent.map((r, i) => [r.id, outcomes[i]]));
    for (const record of records) {
      const outcome = outcomeOf.get(record.id);
      const error =
        unsent.get(record.id) ??
        (outcome === "conflict" || outcome === undefined
          ? new DeadLetterRetryConflictError(record.id)
          : undefined);
      if (error === undefined) result.retried.push(record.id);
      else result.failed.push({ id: record.id, error: describeFailure(error) });
    }
  }

  /** A record's mark, with the audit entry of an accepted retry and of one whose record was purged. */
  private markOf(record: DeadLetterRecord, options: ActorOptions): MarkRetried {
    return {
      id: record.id,
      fromRetries: record.retries,
      audit: this.auditEntry(record.id, "retried", options),
      auditIfPurged: this.auditEntry(record.id, "retried", purgedMeanwhile(options)),
    };
  }

  /** The records' messages to their group: each replay id at most once when the transport can. */
  private async send(group: string, records: readonly DeadLetterRecord[]): Promise<void> {
    if (this.redeliverOnce) {
      const replays = records.map((r) => ({ replayId: replayIdOf(r), message: replayMessage(r) }));
      await this.redeliverOnce(group, replays);
      return;
    }
    // One at a time: replays keep their order and a failing transport is not flooded.
    for (const record of records) await this.redeliver(group, replayMessage(record));
  }

  /**
   * Marks a record as never to be replayed, audited in the same step. Archiving an archived record
   * changes nothing.
   * @throws DeadLetterNotFoundError when there is no record, or it was purged before it could be
   *   marked (break14 F2: then nothing is audited, as nothing was archived).
   */
  async archive(id: string, options: ActorOptions): Promise<DeadLetterRecord> {
    const record = await this.require(id);
    if (record.status === "archived") return record;
    // The status and its entry in one step (break29 F3): a timeout leaves both or neither, so the
    // archive can be asked again (an archived record is answered as it is).
    const entry = this.auditEntry(id, "archived", options);
    if (!(await this.store.update(id, { status: "archived" }, entry))) throw new DeadLetterNotFoundError(id);
    return { ...record, status: "archived" };
  }

  /**
   * Deletes records (by id, at most DLQ_BULK_MAX_LIMIT, or by age and status); the audit trail
   * keeps a "purged" entry for each. By criteria, one call purges one share (BulkShare, as
   * `retryMany`: break17 F7) and answers `nextCursor` when more may match; a record is selected by
   * its own `deadLetteredAt` (and status), checked again as it is deleted, never by the index's
   * score, which any service's Redis user may change (break25 F2). By id, whatever is stored under
   * the id is deleted, a record this release cannot read too (break25 F1). In batches of
   * `batchSize`, one round trip each; each record is audited and deleted in one atomic step (one
   * script), so no command blocks Redis on a large purge, a purge cut short (a crash) is finished
   * by running it again, and a record is never deleted without its entry.
   * @throws DeadLetterInvalidError for too many ids, no valid cut-off, a limit out of range or a
   *   foreign cursor.
   */
  async purge(target: readonly string[] | PurgeCriteria, options: ActorOptions): Promise<PurgeResult> {
    const purged: string[] = [];
    const purgeBatch = async (purges: DeadLetterPurge[]) => {
      if (purges.length === 0) return;
      const done = await this.store.purge(purges);
      for (const [i, { audit }] of purges.entries()) if (done[i]) purged.push(audit.recordId);
    };
    if (isIdList(target)) {
      checkIdCount([...new Set(target)]);
      // By id: whatever is stored there goes, a record this release cannot read too (break25 F1).
      for (const ids of chunks([...new Set(target)], this.batchSize))
        await purgeBatch(ids.map((id) => ({ audit: this.auditEntry(id, "purged", options) })));
      return { purged };
    }
    const cutoff = "olderThan" in target ? Date.parse(target.olderThan) : this.now() - target.maxAgeMs;
    if (Number.isNaN(cutoff)) throw new DeadLetterInvalidError("purge needs a valid olderThan or maxAgeMs");
    const { status } = target;
    // Strictly before the cut-off: a record dead-lettered exactly at it is kept. The walk checks
    // each record's own date, and the store checks it (and the status) again as it deletes.
    const nextCursor = await walkBulk(
      this.store,
      {
        filter: status ? { status } : {},
        beforeMs: cutoff,
        limit: bulkLimit(target.limit),
        scanLimit: this.scanLimit,
        batchSize: this.batchSize,
        ...(target.cursor === undefined ? {} : { cursor: target.cursor }),
      },
      (records) =>
        purgeBatch(
          records.map((r) => ({
            audit: this.auditEntry(r.id, "purged", options),
            expect: { deadLetteredAt: r.deadLetteredAt, ...(status ? { status } : {}) },
          })),
        ),
    );
    return nextCursor === undefined ? { purged } : { purged, nextCursor };
  }

  private async require(id: string): Promise<DeadLetterRecord> {
    const record = await this.store.get(id);
    if (!record) throw new DeadLetterNotFoundError(id);
    return record;
  }

  private auditEntry(
    recordId: string,
    action: DeadLetterAuditEntry["action"],
    options: ActorOptions,
  ): DeadLetterAuditEntry {
    return {
      at: new Date(this.now()).toISOString(),
      recordId,
      action,
      actor: options.actor,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
    };
  }
}

/** Note on the audit entry of a retry whose record was purged while its replay was on the way. */
export const PURGED_MEANWHILE_NOTE = "record purged while its replay was on the way";

function purgedMeanwhile(options: ActorOptions): ActorOptions {
  const detail =
    options.detail === undefined ? PURGED_MEANWHILE_NOTE : `${options.detail} (${PURGED_MEANWHILE_NOTE})`;
  return { ...options, detail };
}

function isIdList<T extends object>(target: T | readonly string[]): target is readonly string[] {
  return Array.isArray(target);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
