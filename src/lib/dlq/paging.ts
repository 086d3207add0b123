/**
 * Cursor pages over the dead-letter time index, shared by the adapters: newest first, at most
 * `limit` matching records, examining at most `scanLimit` index entries per page (filters other
 * than time are checked on the records read, so a rare filter must not make one request read the
 * whole index). `nextCursor` continues exactly after the last entry examined.
 */
import { type DeadLetterFilter, type DeadLetterRecord, matchesFilter } from "./dead-letter-store.js";

export interface DeadLetterPageOptions {
  /** Records per page (default 100). */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Index entries examined per page at most (default 1 000, and at least `limit`). */
  scanLimit?: number;
}

export interface DeadLetterPage {
  records: DeadLetterRecord[];
  /** Present when the index may hold more matching records. */
  nextCursor?: string;
}

/** One entry of the time index: record id and dead-lettering time (ms). */
export interface IndexEntry {
  id: string;
  ms: number;
}

/** The place of an entry in newest-first order: later time first, then larger id first. */
export const isAfter = (entry: IndexEntry, cursor: IndexEntry): boolean =>
  entry.ms < cursor.ms || (entry.ms === cursor.ms && entry.id < cursor.id);

export const encodeDlqCursor = (entry: IndexEntry): string =>
  Buffer.from(JSON.stringify([entry.ms, entry.id])).toString("base64url");

/** The entry a cursor stands for, or undefined when it is not one this API issued. */
export function decodeDlqCursor(cursor: string): IndexEntry | undefined {
  if (!/^[A-Za-z0-9_-]{1,2000}$/.test(cursor)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [ms, id] = parsed as unknown[];
    return Number.isFinite(ms) && typeof id === "string" ? { ms: ms as number, id } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Walks `entries` (newest first, starting at or before the cursor's time) and fetches records in
 * batches until the page is full, the scan budget is spent or the index ends.
 */
export async function collectPage(
  entries: AsyncIterable<IndexEntry[]>,
  fetch: (ids: readonly string[]) => Promise<(DeadLetterRecord | undefined)[]>,
  filter: DeadLetterFilter,
  options: DeadLetterPageOptions,
): Promise<DeadLetterPage> {
  const limit = options.limit ?? 100;
  const scanLimit = Math.max(limit, options.scanLimit ?? 1_000);
  const cursor = options.cursor === undefined ? undefined : decodeDlqCursor(options.cursor);
  if (options.cursor !== undefined && cursor === undefined) return { records: [] };
  const records: DeadLetterRecord[] = [];
  let scanned = 0;
  for await (const batch of entries) {
    const fresh = cursor === undefined ? batch : batch.filter((e) => isAfter(e, cursor));
    let at = 0;
    while (at < fresh.length) {
      // Read about as many records as the page still needs (at least a few, filters may skip some).
      const size = Math.min(Math.max(limit - records.length, 16), scanLimit - scanned);
      const chunk = fresh.slice(at, at + size);
      at += chunk.length;
      const fetched = await fetch(chunk.map((e) => e.id));
      for (const [i, entry] of chunk.entries()) {
        scanned++;
        const record = fetched[i];
        if (record && matchesFilter(record, filter)) records.push(record);
        if (records.length === limit || scanned === scanLimit) {
          return { records, nextCursor: encodeDlqCursor(entry) };
        }
      }
    }
  }
  return { records };
}
