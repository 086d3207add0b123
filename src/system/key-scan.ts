/**
 * Walks every key of a Redis and holds it against the documented key families (key-families.ts):
 * keys of no family, keys of the wrong type for their family, transient keys without their bound
 * (no TTL, a TTL longer than documented, a collection with more members than documented or with
 * members its bound does not allow, a stream holding what it should have trimmed, a consumer group
 * that does not read or whose oldest pending entry is older than the must-complete window), and
 * per-family key counts (and bytes, when asked). Used by the storage test after a run of the system
 * and by the soak run each minute.
 *
 * The system runs while it is scanned: a key may expire or be deleted, and a group's pending list may
 * empty between any two reads. Each such race reads as "within the bound" (what changed is no longer
 * the key that was listed), never as an error of the scan. A key of another type than its family's
 * is always reported, whether seen by TYPE or by a WRONGTYPE error mid-scan: the system never writes
 * one, so it is a defect (or a stranger writing into the system's key space), not a race.
 */
import type { Redis } from "ioredis";
import { type BoundSettings, familyOf, KEY_FAMILIES, type KeyFamily } from "./key-families.js";

export interface ScanLimits extends BoundSettings {
  /** Window of a stream no group reads (the system's `STREAM_RETENTION_MS`), ms. */
  streamRetentionMs: number;
  /** Extra age allowed for trimming to catch up (a trim interval and some margin), ms. */
  slackMs: number;
  /**
   * How long a stream entry may wait for a consumer group to read it, ms: a group whose next
   * unread entry is older than this (plus `slackMs`) does not read (no live consumer), and pins
   * every entry after its position.
   */
  groupLagMs: number;
  /**
   * Oldest age a pending entry may reach (the bus's `BUS_MUST_COMPLETE_WINDOW_MS`, after which it
   * is dead-lettered and acked), ms; older, the entry is stuck and pins its stream.
   */
  pendingMaxAgeMs: number;
  /** How long a member of a `due` index may be overdue before it counts as stuck, ms. */
  overdueMs: number;
  now: number;
}

export interface FamilyUsage {
  keys: number;
  /**
   * MEMORY USAGE of the family's keys, bytes (only when `bytes` was asked for): the sum, or with a
   * sample size the mean of that many keys spread over the family times its key count.
   */
  bytes: number;
  /** Entries over the family's streams (stream families only). */
  entries: number;
}

export interface KeyScan {
  /** Keys that match no documented family. */
  unknown: string[];
  /** One line per transient key (or family) without its bound. */
  violations: string[];
  /** By family pattern. */
  usage: Map<string, FamilyUsage>;
}

const BATCH = 500;

/** Every key, once: SCAN may return a key more than once (the keyspace is rehashed while it walks). */
export async function allKeys(redis: Redis): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "COUNT", 1_000);
    cursor = next;
    for (const key of batch) keys.add(key);
  } while (cursor !== "0");
  return [...keys];
}

/**
 * Errors that mean the key (or group) changed under the scan since it was listed: deleted
 * (a purge, a trim that emptied it, an expiry), a group destroyed, or the key recreated with
 * another type. The bound then holds for what was listed.
 */
const VANISHED = /no such key|NOGROUP/i;
const WRONG_TYPE = /WRONGTYPE/;

const wrongType = (key: string, family: KeyFamily, actual: string) =>
  `${key}: ${actual}, but ${family.pattern} is a ${family.type} family`;

/**
 * The read's verdict; a key that vanished meanwhile is within its bound (`otherwise`), and one that
 * turned out of another type (WRONGTYPE) is reported as such.
 */
async function unlessVanished(
  read: Promise<string | undefined>,
  otherwise: undefined,
  family: KeyFamily,
  key: string,
): Promise<string | undefined> {
  try {
    return await read;
  } catch (error) {
    if (error instanceof Error && VANISHED.test(error.message)) return otherwise;
    if (error instanceof Error && WRONG_TYPE.test(error.message))
      return wrongType(key, family, "a key of another type");
    throw error;
  }
}

const idParts = (id: string): [number, number] => {
  const [ms, seq] = id.split("-");
  return [Number(ms), Number(seq ?? 0)];
};
const idBefore = (a: string, b: string): boolean => {
  const [am, as] = idParts(a);
  const [bm, bs] = idParts(b);
  return am < bm || (am === bm && as < bs);
};

function fields(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** Why a trimmed stream is over its bound, or undefined when it is within it (or gone). */
function streamOverBound(
  redis: Redis,
  family: KeyFamily,
  key: string,
  limits: ScanLimits,
): Promise<string | undefined> {
  return unlessVanished(readStreamBound(redis, key, limits), undefined, family, key);
}

/** The id just after `id` (XRANGE's exclusive start without the `(` syntax). */
const nextId = (id: string): string => {
  const [ms, seq] = idParts(id);
  return `${ms}-${seq + 1}`;
};

async function readStreamBound(redis: Redis, key: string, limits: ScanLimits): Promise<string | undefined> {
  const first = await redis.xrange(key, "-", "+", "COUNT", 1);
  const firstId = first[0]?.[0];
  if (!firstId) return undefined;
  // A stream deleted since SCAN (a DLQ purge, a test's FLUSH) is within every bound: XINFO then
  // fails with "no such key", a group destroyed meanwhile makes XPENDING fail with NOGROUP.
  const info = await redis.xinfo("GROUPS", key);
  const groups = (info as unknown[][]).map(fields);
  if (groups.length === 0) {
    const oldest = limits.now - limits.streamRetentionMs - limits.slackMs;
    return idParts(firstId)[0] < oldest ? `${key}: entries older than the retention window` : undefined;
  }
  let needed: string | undefined;
  const stuck: string[] = [];
  for (const group of groups) {
    const name = String(group.name);
    // Read live: the pending list can empty between XINFO and XPENDING (summary id null), and the
    // group's position then is just past its last delivered entry.
    const summary = (await redis.xpending(key, name)) as [number, string | null, ...unknown[]];
    const next = nextId(String(group["last-delivered-id"]));
    const id = summary[1] ?? next;
    if (needed === undefined || idBefore(id, needed)) needed = id;
    // A group that does not read: its next undelivered entry has waited too long.
    const [unread] = await redis.xrange(key, next, "+", "COUNT", 1);
    if (unread && idParts(unread[0])[0] < limits.now - limits.groupLagMs - limits.slackMs) {
      stuck.push(
        `${key}: group ${name} has not read entry ${unread[0]} for ${Math.round((limits.now - idParts(unread[0])[0]) / 1000)} s (it pins every later entry)`,
      );
    }
    // A pending entry past the must-complete window is never going to be acked: it pins the stream.
    if (summary[1] && idParts(summary[1])[0] < limits.now - limits.pendingMaxAgeMs - limits.slackMs) {
      stuck.push(
        `${key}: group ${name} holds entry ${summary[1]} pending for ${Math.round((limits.now - idParts(summary[1])[0]) / 1000)} s, past the must-complete window (it pins the stream)`,
      );
    }
  }
  if (stuck.length > 0) return stuck.join("; ");
  // Trimming runs on an interval: what was handled since the last pass (up to the slack) may stay.
  return needed && idBefore(firstId, needed) && idParts(firstId)[0] < idParts(needed)[0] - limits.slackMs
    ? `${key}: entries every group has handled are not trimmed (first ${firstId}, needed from ${needed})`
    : undefined;
}

function auditOverBound(
  redis: Redis,
  family: KeyFamily,
  key: string,
  limits: ScanLimits,
): Promise<string | undefined> {
  return unlessVanished(readAuditBound(redis, key, limits), undefined, family, key);
}

async function readAuditBound(redis: Redis, key: string, limits: ScanLimits): Promise<string | undefined> {
  const [first] = await redis.xrange(key, "-", "+", "COUNT", 1);
  const [last] = await redis.xrevrange(key, "+", "-", "COUNT", 1);
  if (!first || !last) return undefined;
  return idParts(first[0])[0] < idParts(last[0])[0] - limits.dlqAuditRetentionMs - limits.slackMs
    ? `${key}: audit entries older than the retention window`
    : undefined;
}

async function checkBatch(
  redis: Redis,
  family: KeyFamily,
  keys: readonly string[],
  limits: ScanLimits,
): Promise<string[]> {
  const { check } = family;
  if (check.kind === "expires" || check.kind === "expires-once-settled") {
    const pipeline = redis.pipeline();
    for (const key of keys) {
      pipeline.pttl(key);
      if (check.kind === "expires-once-settled") pipeline.hget(key, "state");
    }
    const results = (await pipeline.exec()) ?? [];
    const replies = results.map(([, value]) => value);
    const step = check.kind === "expires" ? 1 : 2;
    const maxTtl = check.maxTtl(limits);
    const out: string[] = [];
    keys.forEach((key, i) => {
      const ttl = Number(replies[i * step]);
      const stateError = step === 2 ? results[i * step + 1]?.[0] : null;
      if (stateError && WRONG_TYPE.test(stateError.message)) {
        out.push(wrongType(key, family, "a key of another type"));
        return;
      }
      const state = step === 2 ? replies[i * step + 1] : undefined;
      // -2: the key expired between SCAN and PTTL, which is the bound at work. A reservation
      // holding stock has no TTL (yet): it is bounded by the orders in flight.
      if (state === "reserved") return;
      if (ttl === -1) out.push(`${key}: no TTL (${family.pattern})`);
      else if (ttl > maxTtl)
        out.push(`${key}: TTL ${ttl} ms over its bound of ${maxTtl} ms (${family.pattern})`);
    });
    return out;
  }
  if (check.kind === "trimmed" || check.kind === "audit-window") {
    const verdicts = await Promise.all(
      keys.map((key) =>
        check.kind === "trimmed"
          ? streamOverBound(redis, family, key, limits)
          : auditOverBound(redis, family, key, limits),
      ),
    );
    return verdicts.filter((v): v is string => v !== undefined);
  }
  return [];
}

const MEMBER_COUNT = { hash: "hlen", set: "scard", zset: "zcard", list: "llen" } as const;

/** Keys of a collection family with more members than it documents. */
async function membersOverBound(redis: Redis, family: KeyFamily, keys: readonly string[]): Promise<string[]> {
  const max = family.maxMembers;
  if (max === undefined || keys.length === 0) return [];
  if (family.type === "string" || family.type === "stream") {
    throw new Error(`${family.pattern}: maxMembers is for hashes, sets, zsets and lists`);
  }
  const command = MEMBER_COUNT[family.type];
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline[command](key);
  const replies = (await pipeline.exec()) ?? [];
  const out: string[] = [];
  replies.forEach(([error, value], i) => {
    // Gone keys count 0; a key recreated with another type since SCAN is of the wrong type.
    if (error) {
      if (WRONG_TYPE.test(error.message)) out.push(wrongType(keys[i]!, family, "a key of another type"));
      else throw error;
      return;
    }
    const members = Number(value);
    if (members > max) out.push(`${keys[i]}: ${members} members, at most ${max} (${family.pattern})`);
  });
  return out;
}

/** Keys of a family whose members its `members` check does not allow (see key-families.ts). */
async function membersNotAllowed(
  redis: Redis,
  family: KeyFamily,
  keys: readonly string[],
  limits: ScanLimits,
): Promise<string[]> {
  const check = family.members;
  if (!check) return [];
  const out: string[] = [];
  for (const key of keys) {
    try {
      if (check.kind === "due" || check.kind === "max-age") {
        const oldest = check.kind === "due" ? limits.now - limits.overdueMs : limits.now - check.maxAgeMs;
        const [member, score] = await redis.zrangebyscore(
          key,
          "-inf",
          `(${oldest}`,
          "WITHSCORES",
          "LIMIT",
          0,
          1,
        );
        if (member !== undefined) {
          const count = await redis.zcount(key, "-inf", `(${oldest}`);
          const age = Math.round((limits.now - Number(score)) / 1000);
          out.push(
            check.kind === "due"
              ? `${key}: ${count} member(s) overdue by more than ${limits.overdueMs} ms (e.g. ${member}, due ${age} s ago): stuck (${family.pattern})`
              : `${key}: ${count} member(s) older than ${check.maxAgeMs} ms (e.g. ${member}, ${age} s old) (${family.pattern})`,
          );
        }
      } else {
        // Both keys change together (one script): read them together too.
        const sibling = check.of(key);
        const [fieldsReply, membersReply] =
          (await redis.multi().hkeys(key).zrange(sibling, 0, -1).exec()) ?? [];
        if (fieldsReply?.[0]) throw fieldsReply[0];
        if (membersReply?.[0]) throw membersReply[0];
        const members = new Set(membersReply?.[1] as string[]);
        const orphans = (fieldsReply?.[1] as string[]).filter((f) => !members.has(f));
        if (orphans.length > 0)
          out.push(
            `${key}: ${orphans.length} field(s) not in ${sibling} (e.g. ${orphans[0]}): left behind (${family.pattern})`,
          );
      }
    } catch (error) {
      if (error instanceof Error && WRONG_TYPE.test(error.message)) continue; // reported by the type check
      throw error;
    }
  }
  return out;
}

/** Splits a batch into the keys of the family's type and reports (and drops) the others. */
async function ofFamilyType(
  redis: Redis,
  family: KeyFamily,
  keys: readonly string[],
): Promise<{ keys: string[]; violations: string[] }> {
  const pipeline = redis.pipeline();
  for (const key of keys) pipeline.type(key);
  const types = ((await pipeline.exec()) ?? []).map(([, value]) => String(value));
  const ok: string[] = [];
  const violations: string[] = [];
  keys.forEach((key, i) => {
    const type = types[i];
    if (type === "none") return; // gone since SCAN
    if (type === family.type) ok.push(key);
    else violations.push(wrongType(key, family, `a ${type ?? "?"}`));
  });
  return { keys: ok, violations };
}

export interface ScanOptions {
  /** Measure bytes per family (MEMORY USAGE): of every key, or of up to `sample` keys per family. */
  bytes?: boolean | { sample: number };
}

/** Evenly spread picks of at most `count` items. */
function spread<T>(items: readonly T[], count: number): T[] {
  if (items.length <= count) return [...items];
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]!);
}

async function familyBytes(
  redis: Redis,
  keys: readonly string[],
  sample: number | undefined,
): Promise<number> {
  const measured = sample === undefined ? keys : spread(keys, sample);
  let sum = 0;
  for (let i = 0; i < measured.length; i += BATCH) {
    const pipeline = redis.pipeline();
    for (const key of measured.slice(i, i + BATCH)) pipeline.memory("USAGE", key, "SAMPLES", "0");
    for (const [, value] of (await pipeline.exec()) ?? []) sum += Number(value ?? 0);
  }
  return measured.length === 0 ? 0 : (sum / measured.length) * keys.length;
}

/**
 * Scans every key and checks each family's bound. `bytes` adds MEMORY USAGE (of every key, or of
 * a sample per family, which keeps a scan of a large store cheap).
 */
export async function scanKeys(
  redis: Redis,
  limits: ScanLimits,
  options: ScanOptions = {},
): Promise<KeyScan> {
  const unknown: string[] = [];
  const byFamily = new Map<KeyFamily, string[]>();
  for (const key of await allKeys(redis)) {
    const family = familyOf(key);
    if (!family) unknown.push(key);
    else {
      const keys = byFamily.get(family);
      if (keys) keys.push(key);
      else byFamily.set(family, [key]);
    }
  }
  const violations: string[] = [];
  const usage = new Map<string, FamilyUsage>();
  for (const family of KEY_FAMILIES) {
    const keys = byFamily.get(family) ?? [];
    const entry: FamilyUsage = { keys: keys.length, bytes: 0, entries: 0 };
    usage.set(family.pattern, entry);
    if (family.check.kind === "count" && keys.length > family.check.max) {
      violations.push(`${family.pattern}: ${keys.length} keys, at most ${family.check.max} expected`);
    }
    for (let i = 0; i < keys.length; i += BATCH) {
      const typed = await ofFamilyType(redis, family, keys.slice(i, i + BATCH));
      violations.push(...typed.violations);
      const batch = typed.keys;
      violations.push(...(await checkBatch(redis, family, batch, limits)));
      violations.push(...(await membersOverBound(redis, family, batch)));
      violations.push(...(await membersNotAllowed(redis, family, batch, limits)));
      if (family.type === "stream") {
        const pipeline = redis.pipeline();
        for (const key of batch) pipeline.xlen(key);
        for (const [, value] of (await pipeline.exec()) ?? []) entry.entries += Number(value ?? 0);
      }
    }
    if (options.bytes) {
      const sample = typeof options.bytes === "object" ? options.bytes.sample : undefined;
      entry.bytes = await familyBytes(redis, keys, sample);
    }
  }
  return { unknown: unknown.sort(), violations, usage };
}
