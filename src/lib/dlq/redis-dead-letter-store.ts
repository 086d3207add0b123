import { createHash } from "node:crypto";
import type { ChainableCommander, Redis } from "ioredis";
import { z } from "zod";
import { execOrThrow, LuaScript } from "../redis/index.js";
import {
  type DeadLetterAuditEntry,
  type DeadLetterFilter,
  type DeadLetterPurge,
  type DeadLetterRecord,
  type DeadLetterSkip,
  type DeadLetterStatus,
  type DeadLetterStore,
  type MarkRetried,
  type MarkRetriedResult,
  matchesFilter,
} from "./dead-letter-store.js";
import { DeadLetterInvalidError, DeadLetterMalformedError } from "./errors.js";
import { type DeadLetterKeys, deadLetterKeys, RETRY_OF_PURGED_CLAIM_TTL_MS } from "./keys.js";
import {
  collectPage,
  type DeadLetterPage,
  type DeadLetterPageOptions,
  decodeDlqCursor,
  type IndexEntry,
} from "./paging.js";

/**
 * A record is a hash: `data` holds the immutable part as JSON, `status` and `retries` are fields of
 * their own so `update` changes them in place (no JSON round trip through Lua's cjson, which turns
 * empty arrays into objects).
 */
const ADD_SCRIPT = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'status', ARGV[2], 'retries', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return 1`);

/**
 * `oldest`'s page: KEYS: the time index. ARGV: the cursor's time (ms; empty: from the start), its
 * id, the upper bound (ZRANGEBYSCORE syntax), the count. Members of one score sort by id (byte
 * order): those at the cursor's time up to and including its id are skipped. Flat [id, score, ...].
 */
const OLDEST_SCRIPT = new LuaScript(`
-- Byte order, as the sorted set orders ties (Lua's own <= follows the server's collation locale).
local function le(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a <= #b
end
local skip = 0
local min = '-inf'
if ARGV[1] ~= '' then
  min = ARGV[1]
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])) do
    if le(id, ARGV[2]) then skip = skip + 1 end
  end
end
return redis.call('ZRANGEBYSCORE', KEYS[1], min, ARGV[3], 'WITHSCORES', 'LIMIT', skip, tonumber(ARGV[4]))`);

const MARK_RETRIED_RESULTS: Record<string, MarkRetriedResult> = {
  "0": "missing",
  "-1": "conflict",
  "1": "retried",
  "2": "archived",
};

/**
 * Appends one audit entry to the whole trail (a stream) and to its record's own trail (a list), and
 * drops what is older than the retention window from both, in one step. Time is Redis's own (`TIME`,
 * read inside the script), never the writer's: the stream id is Redis's (`*`), each list element is
 * prefixed with Redis's ms, and the window is counted back from Redis's now. A writer whose clock
 * runs ahead can then neither erase the recent trail nor push ids into the future that stop every
 * later trim (break-11 F1; DESIGN.md §6, "do not compare clocks across machines"). The entry's `at`
 * is kept as written, for reading only.
 * KEYS: trail stream, record list. ARGV: retention ms (0 = keep all), the entry as JSON, then the
 * stream fields.
 */
const APPEND_AUDIT_LUA = `
local function append_audit(stream, list, keep, entry, fields)
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  redis.call('XADD', stream, '*', unpack(fields))
  redis.call('RPUSH', list, string.format('%.0f', now) .. '|' .. entry)
  if keep > 0 then
    local cutoff = now - keep
    if cutoff > 0 then redis.call('XTRIM', stream, 'MINID', string.format('%.0f', cutoff)) end
    for _ = 1, redis.call('LLEN', list) do
      local head = redis.call('LINDEX', list, 0)
      local hms = tonumber(string.match(head, '^(-?%d+)|'))
      if hms == nil or hms >= cutoff then break end
      redis.call('LPOP', list)
    end
    redis.call('PEXPIRE', list, keep)
  end
end
`;

const APPEND_AUDIT_SCRIPT = new LuaScript(`${APPEND_AUDIT_LUA}
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
append_audit(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], fields)
return 1`);

/**
 * Appends the audit entry given at ARGV[at] (its JSON, '' for none), ARGV[at + 1] (how many stream
 * fields follow) and the fields, to KEYS[3] and KEYS[4] (APPEND_AUDIT's keys); returns the index of
 * the ARGV after it.
 */
const AUDIT_ARG_LUA = `${APPEND_AUDIT_LUA}
local function audit_arg(at, keep)
  local count = tonumber(ARGV[at + 1])
  if ARGV[at] ~= '' then
    local fields = {}
    for i = at + 2, at + 1 + count do fields[#fields + 1] = ARGV[i] end
    append_audit(KEYS[3], KEYS[4], keep, ARGV[at], fields)
  end
  return at + 2 + count
end
`;

/**
 * KEYS: the record, then (with an audit entry) the trail stream and the record's trail (KEYS[2] is
 * unused, so the audit's keys sit where AUDIT_ARG expects them). ARGV: the status, the retry count
 * ('' unchanged), the audit retention ms, then the entry (AUDIT_ARG; '' and 0 for none). The change
 * and its entry are written together or not at all (break29 F3). Returns 1, or 0 (no record).
 */
const UPDATE_SCRIPT = new LuaScript(`${AUDIT_ARG_LUA}
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'retries', ARGV[2]) end
audit_arg(4, tonumber(ARGV[3]))
return 1`);

/**
 * The compare-and-set of `markRetried` (break13 F1) with its audit entry (break29 F3). KEYS: the
 * record, the claim of its replay (`{dlq}:retry-of-purged:<id>#<fromRetries + 1>`), the trail
 * stream, the record's trail. ARGV: the retry count read before the replay was sent, the claim's
 * TTL (ms), the audit retention (ms), then the entry of an accepted mark and the entry of a replay
 * of a purged record (each as AUDIT_ARG reads it; '' and 0 for none). Returns 0 (no record: purged,
 * and this call took the claim of the replay: audited with the second entry), -1 (the count
 * moved, or the record is gone and the replay was already claimed: another retry was accepted;
 * nothing audited), 1 (marked retried) or 2 (marked, but archived meanwhile: the status is kept),
 * both audited with the first entry. Every accepted mark takes the claim of its replay, also when
 * the record is there (break29 F2): a retry of the same replay finding the record purged after
 * this mark is then a conflict, not a second acceptance of one replay. The claim is a one-field
 * hash written with HSET/PEXPIRE (atomic in the script), not SET NX PX: the gateway's Redis user
 * runs no plain string commands (src/system/redis-acl.ts).
 */
const MARK_RETRIED_SCRIPT = new LuaScript(`${AUDIT_ARG_LUA}
local keep = tonumber(ARGV[3])
local accepted_at = 4
local purged_at = accepted_at + 2 + tonumber(ARGV[accepted_at + 1])
local function claim()
  redis.call('HSET', KEYS[2], 'claimed', '1')
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
  claim()
  audit_arg(purged_at, keep)
  return 0
end
local retries = tonumber(redis.call('HGET', KEYS[1], 'retries') or '0')
if retries ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'retries', string.format('%d', retries + 1))
claim()
local archived = redis.call('HGET', KEYS[1], 'status') == 'archived'
if not archived then redis.call('HSET', KEYS[1], 'status', 'retried') end
audit_arg(accepted_at, keep)
if archived then return 2 end
return 1`);

/**
 * One record's purge (break25 F2): what is stored is checked, audited and deleted in one step, so
 * neither a record changed since the purge read it nor one whose index score was forged (a
 * service's Redis user may ZADD any member of the shared index) is deleted by a purge by age.
 * KEYS: the record, the index, the trail stream, the record's trail. ARGV: the id, the expected
 * status ('' any), the expected deadLetteredAt ('' any: a purge by id), then APPEND_AUDIT's ARGV.
 * Returns 1 (audited and deleted), 0 (nothing stored: the index entry is dropped, nothing audited)
 * or -1 (not as expected: kept, nothing audited).
 */
const PURGE_SCRIPT = new LuaScript(`${APPEND_AUDIT_LUA}
local data = redis.call('HGET', KEYS[1], 'data')
if data == false and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 0
end
if ARGV[2] ~= '' and redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return -1 end
if ARGV[3] ~= '' then
  if data == false then return -1 end
  local ok, decoded = pcall(cjson.decode, data)
  if not ok or type(decoded) ~= 'table' or decoded.deadLetteredAt ~= ARGV[3] then return -1 end
end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
append_audit(KEYS[3], KEYS[4], tonumber(ARGV[4]), ARGV[5], fields)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1`);

/**
 * Takes an index entry a read met out of the way, only if the record is still exactly as read
 * (the SHA-1 of its `data`, or 'none' when absent, and its status, '' when absent): a record added
 * or repaired meanwhile keeps its entry. KEYS: the record, the index. ARGV: the id, the data's
 * SHA-1, the status, then '' (drop the entry) or the record's own time (ms: set the entry to it).
 */
const FIX_INDEX_SCRIPT = new LuaScript(`
local data = redis.call('HGET', KEYS[1], 'data')
local status = redis.call('HGET', KEYS[1], 'status')
local sha = 'none'
if data then sha = redis.sha1hex(data) end
if sha ~= ARGV[2] or (status or '') ~= ARGV[3] then return 0 end
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[1]) end
return 1`);

/** Default window of the audit trail: 30 days (an operator's look back over a month of incidents). */
export const DEFAULT_AUDIT_RETENTION_MS = 30 * 86_400_000;

const statusSchema = z.enum(["dead", "retried", "archived"]);

const dataSchema = z.object({
  id: z.string(),
  group: z.string(),
  topic: z.string(),
  owner: z.string(),
  deliveryId: z.string(),
  body: z.string(),
  envelopeId: z.string().optional(),
  event: z.string().optional(),
  sourceService: z.string().optional(),
  reason: z.string(),
  attempts: z.array(
    z.object({
      attempt: z.number(),
      at: z.string(),
      durationMs: z.number(),
      error: z.object({ name: z.string(), message: z.string(), code: z.string().optional() }),
    }),
  ),
  deadLetteredAt: z.string(),
});

const auditSchema = z.object({
  at: z.string(),
  recordId: z.string(),
  action: z.enum(["dead-lettered", "retried", "archived", "purged"]),
  actor: z.string(),
  detail: z.string().optional(),
});

export interface RedisDeadLetterStoreOptions {
  /** Hash tag of every key (default "dlq"). */
  tag?: string;
  /** Ids read per round trip when listing or reading the audit stream (default 200). */
  pageSize?: number;
  /**
   * Audit entries appended longer ago than this (ms, on Redis's clock) are dropped, from the whole
   * trail and from each record's own (which also expires this long after its last entry).
   * Default 30 days; 0 keeps everything.
   */
  auditRetentionMs?: number;
}

function toScore(iso: string, what: string): number {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new DeadLetterInvalidError(`${what} is not an ISO date: "${iso}"`);
  return ms;
}

/** A flat `[id, score, ...]` reply as index entries. */
function toEntries(flat: readonly string[]): IndexEntry[] {
  const entries: IndexEntry[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) entries.push({ id: flat[i] ?? "", ms: Number(flat[i + 1]) });
  return entries;
}

function fieldsToObject(fields: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) out[fields[i]!] = fields[i + 1]!;
  return out;
}

/** What is stored under `{dlq}:rec:<id>`, as far as this release can read it. */
type Stored = { kind: "record"; record: DeadLetterRecord } | { kind: "missing" | "foreign" | "malformed" };

/**
 * Reads the hash stored under `{dlq}:rec:<id>`. A record's `id` must be the key's, and a
 * `<group>|<topic>|<entry>` id (what consumers write) must name its own group: a service's Redis
 * user may write only its own group's records (src/system/redis-acl.ts), so a record it planted
 * cannot send a message to another group on a retry (break-12 F5). Anything else there that does
 * not parse (a status this release does not know, data that is not a record's) is "malformed",
 * never thrown from a listing (break25 F1: one such hash made every DLQ route answer 500).
 */
function readStored(hash: Record<string, string>, id: string): Stored {
  if (Object.keys(hash).length === 0) return { kind: "missing" };
  if (hash.data === undefined) return { kind: "malformed" };
  let json: unknown;
  try {
    json = JSON.parse(hash.data);
  } catch {
    return { kind: "malformed" };
  }
  const data = dataSchema.safeParse(json);
  const status = statusSchema.safeParse(hash.status);
  const retries = Number(hash.retries ?? 0);
  if (!data.success || !status.success || !Number.isSafeInteger(retries) || retries < 0)
    return { kind: "malformed" };
  if (Number.isNaN(Date.parse(data.data.deadLetteredAt))) return { kind: "malformed" };
  const { data: d } = data;
  if (d.id !== id || (id.includes("|") && !id.startsWith(`${d.group}|`))) return { kind: "foreign" };
  return { kind: "record", record: { ...d, status: status.data, retries } };
}

const sha1 = (data: Buffer | undefined): string =>
  data === undefined ? "none" : createHash("sha1").update(data).digest("hex");

/** A hash read as bytes, as text (the SHA-1 of `data` is taken on the bytes, as Redis's is). */
const asText = (hash: Record<string, Buffer>): Record<string, string> =>
  Object.fromEntries(Object.entries(hash).map(([field, value]) => [field, value.toString("utf8")]));

/** Dead-letter store on Redis: record hashes, a time index (sorted set) and an audit stream. */
export class RedisDeadLetterStore implements DeadLetterStore {
  private readonly keys: DeadLetterKeys;
  private readonly pageSize: number;
  private readonly auditRetentionMs: number;
  private readonly skipListeners = new Set<(skip: DeadLetterSkip) => void>();

  constructor(
    private readonly redis: Redis,
    options: RedisDeadLetterStoreOptions = {},
  ) {
    this.keys = deadLetterKeys(options.tag);
    this.pageSize = options.pageSize ?? 200;
    this.auditRetentionMs = options.auditRetentionMs ?? DEFAULT_AUDIT_RETENTION_MS;
  }

  async add(record: DeadLetterRecord): Promise<boolean> {
    const { status, retries, ...data } = record;
    const score = toScore(record.deadLetteredAt, "deadLetteredAt");
    const added = await ADD_SCRIPT.run(
      this.redis,
      [this.keys.record(record.id), this.keys.index],
      [JSON.stringify(data), status, String(retries), String(score), record.id],
    );
    return added === 1;
  }

  async get(id: string): Promise<DeadLetterRecord | undefined> {
    const stored = readStored(await this.redis.hgetall(this.keys.record(id)), id);
    if (stored.kind === "malformed") throw new DeadLetterMalformedError(id);
    return stored.kind === "record" ? stored.record : undefined;
  }

  onSkip(listener: (skip: DeadLetterSkip) => void): () => void {
    this.skipListeners.add(listener);
    return () => this.skipListeners.delete(listener);
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetterRecord[]> {
    const limit = filter.limit ?? Number.POSITIVE_INFINITY;
    const max = filter.to === undefined ? "+inf" : toScore(filter.to, "to");
    const min = filter.from === undefined ? "-inf" : toScore(filter.from, "from");
    const found: DeadLetterRecord[] = [];
    // Pages through the time index newest first; the other filters are applied on the records read.
    for (let offset = 0; found.length < limit; offset += this.pageSize) {
      const flat = await this.redis.zrevrangebyscore(
        this.keys.index,
        max,
        min,
        "WITHSCORES",
        "LIMIT",
        offset,
        this.pageSize,
      );
      const entries = toEntries(flat);
      const records = await this.fetch(entries);
      for (const record of records) {
        if (record && matchesFilter(record, filter)) found.push(record);
        if (found.length >= limit) break;
      }
      if (entries.length < this.pageSize) break;
      // Entries dropped from the index by this read shift the next page back by as many.
      offset -= records.filter((r) => r === undefined).length;
    }
    return found;
  }

  async page(filter: DeadLetterFilter, options: DeadLetterPageOptions): Promise<DeadLetterPage> {
    const cursor = options.cursor === undefined ? undefined : decodeDlqCursor(options.cursor);
    const to = filter.to === undefined ? Number.POSITIVE_INFINITY : toScore(filter.to, "to");
    const max = cursor === undefined ? to : Math.min(to, cursor.ms);
    const min = filter.from === undefined ? "-inf" : toScore(filter.from, "from");
    const { redis, keys, pageSize } = this;
    const msOf = new Map<string, number>();
    let dropped = 0;
    // Batches of the index, newest first, from the cursor's time (inclusive: ties are skipped by id).
    async function* entries(): AsyncGenerator<IndexEntry[]> {
      for (let offset = 0; ; offset += pageSize) {
        // Entries this read dropped from the index (not records) shift the next batch back.
        offset -= dropped;
        dropped = 0;
        const flat = await redis.zrevrangebyscore(
          keys.index,
          max === Number.POSITIVE_INFINITY ? "+inf" : max,
          min,
          "WITHSCORES",
          "LIMIT",
          offset,
          pageSize,
        );
        const batch = toEntries(flat);
        for (const entry of batch) msOf.set(entry.id, entry.ms);
        yield batch;
        if (batch.length < pageSize) return;
      }
    }
    return collectPage(
      entries(),
      async (ids) => {
        const records = await this.fetch(ids.map((id) => ({ id, ms: msOf.get(id) })));
        dropped += records.filter((r) => r === undefined).length;
        return records;
      },
      filter,
      options,
    );
  }

  async update(
    id: string,
    change: { status: DeadLetterStatus; retries?: number },
    audit?: DeadLetterAuditEntry,
  ): Promise<boolean> {
    const retries = change.retries === undefined ? "" : String(change.retries);
    // KEYS[2] unused (see UPDATE_SCRIPT): the record's own key again, so every key is one slot's.
    const keys = [this.keys.record(id), this.keys.record(id), this.keys.audit, this.keys.auditOf(id)];
    const updated = await UPDATE_SCRIPT.run(this.redis, audit ? keys : keys.slice(0, 1), [
      change.status,
      retries,
      this.auditRetentionMs,
      ...this.auditArgs(audit),
    ]);
    return updated === 1;
  }

  async oldest(
    after: IndexEntry | undefined,
    count: number,
    beforeMs?: number,
  ): Promise<{ entry: IndexEntry; record: DeadLetterRecord | undefined }[]> {
    const max = beforeMs === undefined ? "+inf" : `(${beforeMs}`;
    // One script: the skip of the cursor's ties and the page read together, so a purge between them
    // cannot shift the page past a record (break18 F5: two reads skipped one).
    const flat = (await OLDEST_SCRIPT.run(
      this.redis,
      [this.keys.index],
      after === undefined ? ["", "", max, count] : [after.ms, after.id, max, count],
    )) as string[];
    const entries = toEntries(flat);
    const records = await this.fetch(entries);
    return entries.map((entry, i) => ({ entry, record: records[i] }));
  }

  async newest(): Promise<IndexEntry | undefined> {
    const [id, score] = await this.redis.zrevrange(this.keys.index, 0, 0, "WITHSCORES");
    return id === undefined ? undefined : { id, ms: Number(score) };
  }

  async markRetried(changes: readonly MarkRetried[]): Promise<MarkRetriedResult[]> {
    if (changes.length === 0) return [];
    const replies = await this.execScripts(() => {
      const pipeline = this.redis.pipeline();
      for (const { id, fromRetries, audit, auditIfPurged } of changes)
        pipeline.evalsha(
          MARK_RETRIED_SCRIPT.sha,
          4,
          this.keys.record(id),
          this.keys.retryOfPurged(`${id}#${fromRetries + 1}`),
          this.keys.audit,
          this.keys.auditOf(id),
          String(fromRetries),
          String(RETRY_OF_PURGED_CLAIM_TTL_MS),
          this.auditRetentionMs,
          ...this.auditArgs(audit),
          ...this.auditArgs(auditIfPurged),
        );
      return pipeline;
    });
    return replies.map((reply) => {
      const result = MARK_RETRIED_RESULTS[String(reply)];
      if (result === undefined) throw new Error(`unexpected markRetried reply ${String(reply)}`);
      return result;
    });
  }

  /** An optional audit entry as AUDIT_ARG_LUA reads it: its JSON, the field count, the fields. */
  private auditArgs(entry: DeadLetterAuditEntry | undefined): (string | number)[] {
    if (entry === undefined) return ["", 0];
    const [, [, json, ...fields]] = this.auditCall(entry);
    return [json!, fields.length, ...fields];
  }

  async appendAudits(entries: readonly DeadLetterAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.execScripts(() => {
      const pipeline = this.redis.pipeline();
      for (const entry of entries) {
        const [keys, args] = this.auditCall(entry);
        pipeline.evalsha(APPEND_AUDIT_SCRIPT.sha, keys.length, ...keys, ...args);
      }
      return pipeline;
    });
  }

  async remove(ids: readonly string[]): Promise<number> {
    if (ids.length === 0) return 0;
    const [deleted] = await execOrThrow(
      this.redis
        .multi()
        .del(...ids.map((id) => this.keys.record(id)))
        .zrem(this.keys.index, ...ids),
    );
    return Number(deleted);
  }

  async purge(purges: readonly DeadLetterPurge[]): Promise<boolean[]> {
    if (purges.length === 0) return [];
    const replies = await this.execScripts(() => {
      const pipeline = this.redis.pipeline();
      for (const { audit, expect } of purges) {
        const id = audit.recordId;
        const [auditKeys, auditArgs] = this.auditCall(audit);
        const keys = [this.keys.record(id), this.keys.index, ...auditKeys];
        const args = [id, expect?.status ?? "", expect?.deadLetteredAt ?? "", ...auditArgs];
        pipeline.evalsha(PURGE_SCRIPT.sha, keys.length, ...keys, ...args);
      }
      return pipeline;
    });
    return replies.map((reply) => reply === 1);
  }

  async appendAudit(entry: DeadLetterAuditEntry): Promise<void> {
    const [keys, args] = this.auditCall(entry);
    await APPEND_AUDIT_SCRIPT.run(this.redis, keys, args);
  }

  private auditCall(entry: DeadLetterAuditEntry): [string[], (string | number)[]] {
    const fields = ["at", entry.at, "recordId", entry.recordId, "action", entry.action, "actor", entry.actor];
    if (entry.detail !== undefined) fields.push("detail", entry.detail);
    toScore(entry.at, "at"); // an entry whose `at` is not a date is refused, as before
    return [
      [this.keys.audit, this.keys.auditOf(entry.recordId)],
      [this.auditRetentionMs, JSON.stringify(entry), ...fields],
    ];
  }

  /**
   * Runs a pipeline of EVALSHAs. When the server does not know a script yet (NOSCRIPT: it
   * restarted, or never ran it), none of the pipeline's scripts ran: loads them and runs it again.
   */
  private async execScripts(build: () => ChainableCommander): Promise<unknown[]> {
    let replies = (await build().exec()) ?? [];
    if (replies.some(([error]) => error?.message.startsWith("NOSCRIPT"))) {
      // Some ran (the cache was flushed mid-pipeline): running all again could apply them twice.
      if (replies.some(([error]) => error === null)) throw new Error("script cache lost mid-pipeline");
      await Promise.all(
        [MARK_RETRIED_SCRIPT, APPEND_AUDIT_SCRIPT, PURGE_SCRIPT, FIX_INDEX_SCRIPT, UPDATE_SCRIPT].map((s) =>
          this.redis.script("LOAD", s.source),
        ),
      );
      replies = (await build().exec()) ?? [];
    }
    return replies.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }

  async audit(recordId?: string): Promise<DeadLetterAuditEntry[]> {
    if (recordId !== undefined) {
      // The record's list is pruned when it is appended to; entries appended longer ago than the
      // window (Redis's clock, the one their prefixes were written on) are dropped here too (and the
      // list expires a window after its last append).
      const [items, [seconds, micros]] = await Promise.all([
        this.redis.lrange(this.keys.auditOf(recordId), 0, -1),
        this.redis.time(),
      ]);
      const nowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      const cutoff = this.auditRetentionMs > 0 ? nowMs - this.auditRetentionMs : Number.NEGATIVE_INFINITY;
      return items
        .filter((item) => !(Number(item.slice(0, item.indexOf("|"))) < cutoff))
        .map((item) => auditSchema.parse(JSON.parse(item.slice(item.indexOf("|") + 1))));
    }
    const entries: DeadLetterAuditEntry[] = [];
    let start = "-";
    for (;;) {
      const page = await this.redis.xrange(this.keys.audit, start, "+", "COUNT", this.pageSize);
      for (const [, fields] of page) {
        entries.push(auditSchema.parse(fieldsToObject(fields)));
      }
      const last = page[page.length - 1];
      if (!last || page.length < this.pageSize) return entries;
      start = `(${last[0]}`;
    }
  }

  /**
   * The records of index entries, undefined for an entry that is not a readable record of its id:
   * that entry is dropped from the index (break25 F1, F2: a planted or malformed hash, or a ghost
   * entry with no hash, would otherwise 500 every listing, or fill every page's examination budget
   * for ever). A record whose entry's time (`ms`, when known) is not its own is returned and its
   * entry set back to its own time (a service's Redis user may ZADD any member of the index).
   * Each is reported to the skip listeners. Only the gateway reads: services may not.
   */
  private async fetch(entries: readonly { id: string; ms?: number | undefined }[]) {
    if (entries.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const { id } of entries) pipeline.hgetallBuffer(this.keys.record(id));
    const hashes = (await execOrThrow(pipeline)) as Record<string, Buffer>[];
    const fixes: {
      id: string;
      hash: Record<string, Buffer>;
      ms: string;
      reason: DeadLetterSkip["reason"];
    }[] = [];
    const records = entries.map(({ id, ms }, i): DeadLetterRecord | undefined => {
      const hash = hashes[i]!;
      const stored = readStored(asText(hash), id);
      if (stored.kind !== "record") {
        fixes.push({ id, hash, ms: "", reason: stored.kind });
        return undefined;
      }
      const own = Date.parse(stored.record.deadLetteredAt);
      if (ms !== undefined && ms !== own) fixes.push({ id, hash, ms: String(own), reason: "redated" });
      return stored.record;
    });
    if (fixes.length > 0) {
      const done = await this.execScripts(() => {
        const fixing = this.redis.pipeline();
        for (const { id, hash, ms } of fixes) {
          const status = hash.status?.toString("utf8") ?? "";
          fixing.evalsha(
            FIX_INDEX_SCRIPT.sha,
            2,
            this.keys.record(id),
            this.keys.index,
            id,
            sha1(hash.data),
            status,
            ms,
          );
        }
        return fixing;
      });
      for (const [i, { id, reason }] of fixes.entries())
        if (done[i] === 1) for (const listener of this.skipListeners) listener({ id, reason });
    }
    return records;
  }
}
