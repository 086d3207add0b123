/**
 * The share of a bulk DLQ operation (retry or purge by filter) one call does: at most `limit`
 * matching records, oldest first, examining at most `scanLimit` index entries, then a cursor to
 * continue (break17 F7: one `POST /dlq/retry {}` retried 20,000 records in one answer of 909 KB,
 * and one purge deleted 20,300 in 15.6 s, the work going on after the client gave up).
 */
import {
  type DeadLetterFilter,
  type DeadLetterRecord,
  type DeadLetterStore,
  matchesFilter,
} from "./dead-letter-store.js";
import { DeadLetterInvalidError } from "./errors.js";
import { decodeEntriesCursor, encodeEntriesCursor, type IndexEntry } from "./paging.js";

/** Records one bulk call takes when the caller names no `limit` (as `GET /dlq`'s page). */
export const DLQ_BULK_DEFAULT_LIMIT = 100;
/** Most records (or ids) one bulk call takes (as `GET /dlq`'s page). */
export const DLQ_BULK_MAX_LIMIT = 1_000;
/**
 * Most index entries one bulk call examines: filters other than time are checked on the records
 * read, so a rare filter must not make one call read the whole index (it answers a cursor instead).
 */
export const DLQ_BULK_SCAN_LIMIT = 5_000;

/**
 * Where a bulk run goes on: after `after` (oldest-first order), up to `upTo` inclusive (the newest
 * entry when the run started: records dead-lettered later, such as its own replays failing again,
 * are left for another run, so a run that is continued with its cursor always ends).
 */
export interface BulkPosition {
  after: IndexEntry;
  upTo: IndexEntry;
}

export const encodeBulkCursor = ({ after, upTo }: BulkPosition): string => encodeEntriesCursor([after, upTo]);

/** The position a cursor stands for, or undefined when it is not one a bulk call issued. */
export function decodeBulkCursor(cursor: string): BulkPosition | undefined {
  const entries = decodeEntriesCursor(cursor, 2);
  return entries && { after: entries[0]!, upTo: entries[1]! };
}

/**
 * `limit` checked (an integer from 1 to DLQ_BULK_MAX_LIMIT; DLQ_BULK_DEFAULT_LIMIT when absent).
 * @throws DeadLetterInvalidError
 */
export function bulkLimit(limit: number | undefined): number {
  if (limit === undefined) return DLQ_BULK_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > DLQ_BULK_MAX_LIMIT)
    throw new DeadLetterInvalidError(`limit: an integer from 1 to ${DLQ_BULK_MAX_LIMIT}`);
  return limit;
}

/** @throws DeadLetterInvalidError when more than DLQ_BULK_MAX_LIMIT ids are named in one call. */
export function checkIdCount(ids: readonly string[]): void {
  if (ids.length > DLQ_BULK_MAX_LIMIT)
    throw new DeadLetterInvalidError(`ids: at most ${DLQ_BULK_MAX_LIMIT} in one call, ${ids.length} given`);
}

/** What one bulk call walks: a filter, an optional time bound, its limits and where to start. */
export interface BulkWalk {
  filter: DeadLetterFilter;
  /**
   * Only records dead-lettered strictly before this time (ms), e.g. a purge's cut-off: by the
   * record's own `deadLetteredAt`, the index's score only narrowing the walk (a service's Redis
   * user may re-date any index entry: break25 F2).
   */
  beforeMs?: number;
  limit: number;
  scanLimit: number;
  batchSize: number;
  /** A previous call's `nextCursor`, unchanged. */
  cursor?: string;
}

/**
 * Walks the time index oldest first from the cursor (or `filter.from`), handing each batch of
 * matching records to `handle` (at most `batchSize` records), until `limit` records were handed,
 * `scanLimit` entries examined, or the run's bound reached. Resolves the cursor to continue with
 * when more may follow, else undefined. A read of the index that fails once records were handed
 * ends the walk early with the cursor after them (the caller's answer lists what was done).
 * @throws DeadLetterInvalidError for a cursor no bulk call issued.
 */
export async function walkBulk(
  store: DeadLetterStore,
  walk: BulkWalk,
  handle: (records: DeadLetterRecord[]) => Promise<void>,
): Promise<string | undefined> {
  const { filter, limit, scanLimit, batchSize } = walk;
  let start: BulkPosition | undefined;
  if (walk.cursor !== undefined) {
    start = decodeBulkCursor(walk.cursor);
    if (start === undefined)
      throw new DeadLetterInvalidError("cursor: the nextCursor of a previous answer, unchanged");
  }
  const upTo = start?.upTo ?? (await store.newest());
  if (upTo === undefined) return undefined;
  const to = filter.to === undefined ? Number.POSITIVE_INFINITY : Date.parse(filter.to) + 1;
  const before = Math.min(to, walk.beforeMs ?? Number.POSITIVE_INFINITY, upTo.ms + 1);
  // An id sorts after "": the first entry at `from` itself is included.
  let after =
    start?.after ?? (filter.from === undefined ? undefined : { ms: Date.parse(filter.from), id: "" });
  let taken = 0;
  let examined = 0;
  for (;;) {
    const count = Math.min(batchSize, scanLimit - examined);
    let batch: Awaited<ReturnType<DeadLetterStore["oldest"]>>;
    try {
      batch = await store.oldest(after, count, before);
    } catch (error) {
      // Batches were handled already (replayed, purged): an error now would say nothing was done,
      // and the same call again would redo them (break30 F1). The cursor after them says where to go on.
      if (taken > 0 && after !== undefined) return encodeBulkCursor({ after, upTo });
      throw error;
    }
    // Entries past the bound (same millisecond, larger id: added after the run started) are not ours.
    const within = batch.filter(({ entry }) => !beyond(entry, upTo));
    const ended = batch.length < count || within.length < batch.length;
    const matching: DeadLetterRecord[] = [];
    let stoppedAt: IndexEntry | undefined;
    for (const { entry, record } of within) {
      if (record === undefined || !matchesFilter(record, filter)) continue;
      if (walk.beforeMs !== undefined && !(Date.parse(record.deadLetteredAt) < walk.beforeMs)) continue;
      matching.push(record);
      if (taken + matching.length === limit) {
        stoppedAt = entry;
        break;
      }
    }
    if (matching.length > 0) await handle(matching);
    taken += matching.length;
    const last = within.at(-1)?.entry;
    if (last === undefined) return undefined;
    if (stoppedAt !== undefined)
      return ended && stoppedAt === last ? undefined : encodeBulkCursor({ after: stoppedAt, upTo });
    if (ended) return undefined;
    after = last;
    examined += batch.length;
    if (examined >= scanLimit) return encodeBulkCursor({ after, upTo });
  }
}

/** True when `entry` sorts after `bound` in oldest-first order (later time, or same time and larger id). */
const beyond = (entry: IndexEntry, bound: IndexEntry): boolean =>
  entry.ms > bound.ms || (entry.ms === bound.ms && entry.id > bound.id);
