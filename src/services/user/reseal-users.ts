/**
 * Re-seal pass of a `USER_DATA_KEYS` rotation (break35 F4): "any update re-seals it" left every
 * user never updated under the old key for good, so the old key could never be dropped safely.
 *
 * For every user record (`{user}:u:<id>`) and every notification contact (`{notification}:contact:<id>`)
 * whose email or phone is sealed under a key id other than the cipher's current one, it opens and
 * re-seals those fields under the current key, in one compare-and-set script per record (written
 * only if the record is still the one read: a concurrent write is left for the next run, and a
 * service write seals under the current key anyway). Versions and events are untouched: the values
 * do not change, only the key sealing them. It also fills a user record's `claim` field (the email
 * claim's blind index, which DELETE uses) when an earlier version wrote none, and releases email
 * claims whose user record is gone (a user deleted while its email could not be opened).
 *
 * - Counts: `byKid` is, after the pass, how many records each key id still seals a field of (a
 *   record under two ids counts under each): the old key may be dropped once only the current id is
 *   listed, for users and contacts. `dryRun` only counts.
 * - Idempotent and resumable: progress is the data itself; run it again after an interruption or
 *   when it reports records skipped as CHANGED. SCAN in batches of `batch`, one record per script.
 * - Run by an operator as the `ops` Redis user (it SCANs), with the keys of the user service
 *   (the new key first, the old one listed): `npx tsx scripts/reseal-users.ts` (docs/security.md,
 *   "Rotating the user data key").
 */
import type { Redis } from "ioredis";
import { LuaScript } from "../../lib/redis/index.js";
import { DecryptionError, sealedKid } from "../../lib/security/encryption.js";
import type { ContactField, UserDataCipher } from "../../lib/security/user-data.js";
import { contactKey } from "../notification/keys.js";
import { emailKey, USER_TAG, userKey } from "./keys.js";
import { isSealed, scanBatches } from "./seal-clear-users.js";

/**
 * KEYS: record, its email claim (or the record again: none checked); ARGV: data read, new data,
 * field to fill ('' for none), its value, user id. Writes only when the data is still the one read,
 * and records a claim only if that claim names this user.
 */
const RESEAL_ONE = new LuaScript(`
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 'CHANGED' end
if ARGV[3] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[5] then return 'CLAIM_MISMATCH' end
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
end
redis.call('HSET', KEYS[1], 'data', ARGV[2])
return 'OK'`);

/** KEYS: email claim, its holder's record; ARGV: holder. Deletes a claim whose user record is gone. */
const RELEASE_ORPHAN = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('DEL', KEYS[1])
return 1`);

export type ResealSkip = "CHANGED" | "UNREADABLE" | "IN_CLEAR" | "CLAIM_MISMATCH";

export interface ResealCounts {
  /** Records seen. */
  seen: number;
  /** Records re-sealed under the current key by this run. */
  resealed: number;
  /** Per key id: records still sealing a field under it after the run (the current id included). */
  byKid: Record<string, number>;
  /**
   * CHANGED: written meanwhile (run again); UNREADABLE: sealed under a key id the cipher lacks, or
   * not parseable; IN_CLEAR: run scripts/seal-clear-users.ts first; CLAIM_MISMATCH: the email's claim
   * does not name this user (look: was the index key rotated without scripts/reindex-user-emails.ts?).
   */
  skipped: { id: string; reason: ResealSkip }[];
}

export interface ResealResult {
  users: ResealCounts & { claimsRecorded: number };
  /** The notification service's contacts (its projection of the user events, sealed the same way). */
  contacts: ResealCounts;
  /** Email claims deleted because their user record is gone. */
  orphanClaimsReleased: number;
}

export interface ResealOptions {
  /** SCAN COUNT per round trip (default 100). */
  batch?: number;
  /** Count only: nothing is written (the counts are those before the run). */
  dryRun?: boolean;
  /** Called after each SCAN batch with the next cursor ("0" at the end) and the totals so far. */
  onBatch?: (cursor: string, progress: ResealResult) => void;
  /** Tests: runs between a record's read and its write (to race the write). */
  beforeWrite?: (id: string) => Promise<void>;
}

interface Sealed {
  email: string;
  phone?: unknown;
}

const counts = (): ResealCounts => ({ seen: 0, resealed: 0, byKid: {}, skipped: [] });

/** The key ids sealing the record's fields ("clear" for a field not sealed). */
function kidsOf(record: Sealed): string[] {
  const values = [record.email, ...(typeof record.phone === "string" ? [record.phone] : [])];
  return [...new Set(values.map((v) => sealedKid(v) ?? "clear"))];
}

function tally(into: ResealCounts, kids: readonly string[]): void {
  for (const kid of kids) into.byKid[kid] = (into.byKid[kid] ?? 0) + 1;
}

/** The record's fields re-sealed under the current key; throws DecryptionError when one does not open. */
function resealed<R extends Sealed>(cipher: UserDataCipher, id: string, record: R): R {
  const again = (field: ContactField, value: string) =>
    sealedKid(value) === cipher.currentKid ? value : cipher.seal(id, field, cipher.open(id, field, value));
  return {
    ...record,
    email: again("email", record.email),
    ...(typeof record.phone === "string" ? { phone: again("phone", record.phone) } : {}),
  };
}

function parseSealed(data: string | null): Sealed | undefined {
  try {
    const record = JSON.parse(data ?? "") as { email?: unknown };
    return typeof record.email === "string" ? (record as Sealed) : undefined;
  } catch {
    return undefined;
  }
}

export async function resealUsers(
  redis: Redis,
  cipher: UserDataCipher,
  options: ResealOptions = {},
): Promise<ResealResult> {
  const batch = options.batch ?? 100;
  const result: ResealResult = {
    users: { ...counts(), claimsRecorded: 0 },
    contacts: counts(),
    orphanClaimsReleased: 0,
  };

  /** Re-seals one record (user or contact) if it needs it, and tallies the key ids it holds after. */
  async function one(key: string, id: string, into: ResealCounts, withClaim: boolean): Promise<void> {
    const [data = null, claim = null] = await redis.hmget(key, "data", "claim");
    const record = parseSealed(data);
    if (data === null) return; // gone, or a contact tombstone
    into.seen++;
    if (!record) return void into.skipped.push({ id, reason: "UNREADABLE" });
    const kids = kidsOf(record);
    if (!isSealed(record.email)) {
      into.skipped.push({ id, reason: "IN_CLEAR" });
      return tally(into, kids);
    }
    const needsClaim = withClaim && claim === null;
    if (options.dryRun || (kids.every((k) => k === cipher.currentKid) && !needsClaim))
      return tally(into, kids);
    let next: Sealed;
    let index = "";
    try {
      next = resealed(cipher, id, record);
      if (needsClaim) index = cipher.emailIndex(cipher.open(id, "email", next.email));
    } catch (error) {
      if (!(error instanceof DecryptionError)) throw error;
      into.skipped.push({ id, reason: "UNREADABLE" });
      return tally(into, kids);
    }
    await options.beforeWrite?.(id);
    const claimKey = index === "" ? key : emailKey(index);
    const args = [data, JSON.stringify(next), index === "" ? "" : "claim", index, id];
    const reply = (await RESEAL_ONE.run(redis, [key, claimKey], args)) as "OK" | ResealSkip;
    if (reply !== "OK") {
      into.skipped.push({ id, reason: reply });
      // Counted as it is now (a concurrent write may have sealed it under the current key).
      const now = parseSealed(await redis.hget(key, "data"));
      return tally(into, now ? kidsOf(now) : kids);
    }
    if (JSON.stringify(next) !== data) into.resealed++;
    if (index !== "") result.users.claimsRecorded++;
    tally(into, kidsOf(next));
  }

  const passes: [string, ResealCounts, boolean][] = [
    [userKey(""), result.users, true],
    [contactKey(""), result.contacts, false],
  ];
  for (const [prefix, into, withClaim] of passes) {
    for await (const { keys, cursor } of scanBatches(redis, `${prefix}*`, batch)) {
      for (const key of keys) await one(key, key.slice(prefix.length), into, withClaim);
      options.onBatch?.(cursor, result);
    }
  }
  if (options.dryRun) return result;
  // Claims whose user is gone: the only writer of a claim (create, update, the migrations) writes
  // it with its record, so a claim without one is an orphan (a delete that could not find it).
  for await (const { keys, cursor } of scanBatches(redis, `{${USER_TAG}}:email:*`, batch)) {
    for (const key of keys) {
      const holder = await redis.get(key);
      if (holder === null) continue;
      result.orphanClaimsReleased += Number(
        await RELEASE_ORPHAN.run(redis, [key, userKey(holder)], [holder]),
      );
    }
    options.onBatch?.(cursor, result);
  }
  return result;
}
