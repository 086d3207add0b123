/**
 * Migration: seals the users an older version stored in clear (before issue 12 sealed email and
 * phone at rest). Such a record's `data` holds the email (and phone) as plain text, and its email
 * claim is the key `{user}:email:<email>`: the email in clear in a key name. For each one this
 * seals the fields as the current store does (UserDataCipher: AES-256-GCM bound to the user and
 * field) and moves the claim to `{user}:email:<blind index>`, in one script per user that first
 * checks the record is still the one read (a concurrent update is left for the next run). Then it
 * deletes the clear claim keys left over (their user gone, or already moved).
 *
 * - Idempotent: a sealed record is skipped; a second run changes nothing.
 * - Bounded: SCAN with COUNT `batch`, one script per record; no command touches more than one user.
 * - Resumable: progress is the data itself (sealed or not), so a run cut short is finished by
 *   running it again; `onBatch` reports the SCAN cursor.
 * - Run by an operator with the `ops` Redis user (the user service's ACL user may not SCAN):
 *   `npx tsx scripts/seal-clear-users.ts` with the user service's `USER_DATA_KEYS` and
 *   `USER_EMAIL_INDEX_KEY` (docs/security.md, "Users stored in clear by an older version").
 *
 * Old stream entries (`user.created`/`user.updated` with a clear email) are not rewritten: streams
 * are append-only and trimmed by retention; see docs/security.md for the AOF rewrite after it.
 */
import type { Redis } from "ioredis";
import { LuaScript } from "../../lib/redis/index.js";
import { SEALED_FIELD_PATTERN, type UserDataCipher } from "../../lib/security/user-data.js";
import { emailKey, USER_TAG, userKey } from "./keys.js";

/** KEYS: user, clear claim, index claim; ARGV: data read, sealed data, user id, blind index (the record's `claim`). */
const SEAL_ONE = new LuaScript(`
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[1] then return 'CHANGED' end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[3] then return 'EMAIL_TAKEN' end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'claim', ARGV[4])
redis.call('SET', KEYS[3], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 'SEALED'`);

/** KEYS: clear claim, its holder's record; ARGV: holder. Deletes the claim unless its holder is still in clear. */
const DROP_CLEAR_CLAIM = new LuaScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local data = redis.call('HGET', KEYS[2], 'data')
if data and not string.find(data, '"email":"enc1.', 1, true) then return 0 end
redis.call('DEL', KEYS[1])
return 1`);

export interface SealClearUsersResult {
  /** User records seen. */
  users: number;
  /** Records sealed by this run. */
  sealed: number;
  /** Records already sealed (left as they were). */
  alreadySealed: number;
  /** Records changed while being sealed, or whose email's index claim another user holds: run again / look. */
  skipped: { id: string; reason: "CHANGED" | "EMAIL_TAKEN" | "UNREADABLE" }[];
  /** Clear claim keys (`{user}:email:<email>`) deleted. */
  clearClaimsRemoved: number;
}

export interface SealClearUsersOptions {
  /** SCAN COUNT: keys looked at per round trip (default 100). */
  batch?: number;
  /** Called after each SCAN batch with the next cursor ("0" at the end) and the totals so far. */
  onBatch?: (cursor: string, progress: SealClearUsersResult) => void;
}

export const isSealed = (value: unknown): boolean =>
  typeof value === "string" && SEALED_FIELD_PATTERN.test(value);

export async function* scanBatches(
  redis: Redis,
  match: string,
  batch: number,
): AsyncGenerator<{ keys: string[]; cursor: string }> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", match, "COUNT", batch);
    cursor = next;
    yield { keys, cursor };
  } while (cursor !== "0");
}

export async function sealClearUsers(
  redis: Redis,
  cipher: UserDataCipher,
  options: SealClearUsersOptions = {},
): Promise<SealClearUsersResult> {
  const batch = options.batch ?? 100;
  const result: SealClearUsersResult = {
    users: 0,
    sealed: 0,
    alreadySealed: 0,
    skipped: [],
    clearClaimsRemoved: 0,
  };
  const prefix = userKey("");
  for await (const { keys, cursor } of scanBatches(redis, `${prefix}*`, batch)) {
    for (const key of keys) {
      const id = key.slice(prefix.length);
      const data = await redis.hget(key, "data");
      if (data === null) continue;
      result.users++;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(data) as Record<string, unknown>;
        if (typeof record.email !== "string") throw new Error("no email");
      } catch {
        result.skipped.push({ id, reason: "UNREADABLE" });
        continue;
      }
      const email = record.email as string;
      const phone = record.phone;
      if (isSealed(email) && (phone === undefined || isSealed(phone))) {
        result.alreadySealed++;
        continue;
      }
      // Field by field: a record half sealed (never written so, but cheap to allow) keeps its sealed part.
      const clearEmail = isSealed(email) ? cipher.open(id, "email", email) : email;
      const sealed = JSON.stringify({
        ...record,
        email: isSealed(email) ? email : cipher.seal(id, "email", email),
        ...(typeof phone === "string" && !isSealed(phone) ? { phone: cipher.seal(id, "phone", phone) } : {}),
      });
      const index = cipher.emailIndex(clearEmail);
      const claimKeys = [key, emailKey(clearEmail), emailKey(index)];
      const reply = await SEAL_ONE.run(redis, claimKeys, [data, sealed, id, index]);
      if (reply === "SEALED") result.sealed++;
      else result.skipped.push({ id, reason: reply as "CHANGED" | "EMAIL_TAKEN" });
    }
    options.onBatch?.(cursor, result);
  }
  // Clear claims (an email in the key name: index claims are hex) whose user is sealed or gone.
  for await (const { keys, cursor } of scanBatches(redis, `{${USER_TAG}}:email:*@*`, batch)) {
    for (const key of keys) {
      const holder = await redis.get(key);
      if (holder === null) continue;
      result.clearClaimsRemoved += Number(
        await DROP_CLEAR_CLAIM.run(redis, [key, userKey(holder)], [holder]),
      );
    }
    options.onBatch?.(cursor, result);
  }
  return result;
}
