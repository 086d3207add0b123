/**
 * Parsers for the raw replies of stream commands and scripts. Replies arrive as `unknown` (they go
 * through `call`/`evalsha`), so every shape is checked rather than cast.
 */
import { BusError } from "../errors.js";

/** One stream entry; `fields` is null when the entry was deleted (trimmed) while still pending. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string> | null;
}

/** An entry handed to this consumer together with its delivery count. */
export interface ClaimedEntry {
  entry: StreamEntry;
  deliveryCount: number;
}

function malformed(what: string): BusError {
  return new BusError("REDIS_REPLY_MALFORMED", `Unexpected Redis reply: ${what}`);
}

function asArray(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value)) throw malformed(what);
  return value;
}

function asString(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (Buffer.isBuffer(value)) return value.toString("utf8");
  if (typeof value === "number") return String(value);
  throw malformed(what);
}

function parseFields(raw: unknown): Record<string, string> | null {
  if (raw === null || raw === undefined || raw === false) return null;
  const list = asArray(raw, "entry fields");
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < list.length; i += 2) {
    fields[asString(list[i], "field name")] = asString(list[i + 1], "field value");
  }
  return fields;
}

export function parseEntry(raw: unknown): StreamEntry {
  const [id, fields] = asArray(raw, "entry");
  return { id: asString(id, "entry id"), fields: parseFields(fields) };
}

export function parseEntries(raw: unknown): StreamEntry[] {
  if (raw === null || raw === undefined) return [];
  return asArray(raw, "entries").map(parseEntry);
}

/** XREADGROUP: null on timeout, else `[[key, entries], ...]`. */
export function parseReadReply(raw: unknown): { key: string; entries: StreamEntry[] }[] {
  if (raw === null || raw === undefined) return [];
  return asArray(raw, "XREADGROUP").map((item) => {
    const [key, entries] = asArray(item, "XREADGROUP stream");
    return { key: asString(key, "stream key"), entries: parseEntries(entries) };
  });
}

/** A stream whose read failed inside a script, with the error's message (e.g. `NOGROUP ...`). */
export interface StreamFailure {
  key: string;
  message: string;
}

/**
 * readFewScript: `[read, failed]`, read in XREADGROUP's reply shape (returned unparsed, for
 * parseReadReply), failed a flat `[key, message, ...]`.
 */
export function parseReadFewReply(raw: unknown): { read: unknown; failed: StreamFailure[] } {
  const [read, rawFailed] = asArray(raw, "read of few");
  const flat = asArray(rawFailed ?? [], "failed streams");
  const failed: StreamFailure[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2)
    failed.push({ key: asString(flat[i], "stream key"), message: asString(flat[i + 1], "error message") });
  return { read, failed };
}

/** A flat list of entry ids (e.g. renewLeaseScript's lost ones). */
export function parseIds(raw: unknown): string[] {
  return asArray(raw ?? [], "entry ids").map((id) => asString(id, "entry id"));
}

/** Scripts return `{entries, counts}`: entries paired with the delivery counts XPENDING reported. */
export function parseClaimed(rawEntries: unknown, rawCounts: unknown): ClaimedEntry[] {
  const entries = parseEntries(rawEntries);
  const counts = asArray(rawCounts ?? [], "delivery counts");
  return entries.map((entry, i) => ({ entry, deliveryCount: Math.max(1, Number(counts[i] ?? 1)) }));
}

/** Claim script: `[cursor, entries, counts, deletedIds]`. */
export function parseIdleClaim(raw: unknown): {
  cursor: string;
  claimed: ClaimedEntry[];
  deleted: number;
  /** The call ran too long after it was issued: nothing claimed (see claimIdleScript). */
  stale: boolean;
} {
  const [cursor, entries, counts, deleted, stale] = asArray(raw, "idle claim");
  return {
    cursor: asString(cursor, "cursor"),
    claimed: parseClaimed(entries, counts),
    deleted: Array.isArray(deleted) ? deleted.length : 0,
    stale: stale === 1,
  };
}

/** Read and claim scripts: `[entries, counts]`, or nil when nothing was claimed. */
export function parseClaimedReply(raw: unknown): ClaimedEntry[] {
  if (raw === null || raw === undefined) return [];
  const [entries, counts] = asArray(raw, "claimed entries");
  return parseClaimed(entries, counts);
}
