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

/** Index entries as one opaque cursor: base64url of their flat `[ms, id, ...]`. */
export const encodeEntriesCursor = (entries: readonly IndexEntry[]): string =>
  Buffer.from(JSON.stringify(entries.flatMap((entry) => [entry.ms, entry.id]))).toString("base64url");

/** The `count` entries a cursor of `encodeEntriesCursor` stands for, or undefined for any other text. */
export function decodeEntriesCursor(cursor: string, count: number): IndexEntry[] | undefined {
  if (cursor.length > 2_000 * count || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(parsed) || parsed.length !== 2 * count) return undefined;
    const entries: IndexEntry[] = [];
    for (let i = 0; i < parsed.length; i += 2) {
      const [ms, id] = [parsed[i] as unknown, parsed[i + 1] as unknown];
      if (!Number.isSafeInteger(ms) || typeof id !== "string") return undefined;
      entries.push({ ms: ms as number, id });
    }
    return entries;
  } catch {
    return undefined;
  }
}

/** A page's cursor: the last entry it listed. */
export const encodeDlqCursor = (entry: IndexEntry): string => encodeEntriesCursor([entry]);

/** The entry a cursor stands for, or undefined when it is not one this API issued. */
export const decodeDlqCursor = (cursor: string): IndexEntry | undefined =>
  decodeEntriesCursor(cursor, 1)?.[0];

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
