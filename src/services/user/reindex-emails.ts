/**
 * Rotation of `USER_EMAIL_INDEX_KEY` (the HMAC key naming the email claims `{user}:email:<index>`):
 * for every user record, opens its email and moves the claim from the old index to the new one, in
 * one script per user (SET the new claim unless another user holds it, then DEL the old claim if it
 * still names this user). Idempotent (a moved claim is left as it is) and resumable (run it again),
 * SCAN in batches of `batch`.
 *
 * Not online: the user service checks one index key, so user writes must stop while this runs
 * (stop the user service), and it restarts with the new key afterwards; a user created in between
 * under the old key would have no claim under the new one (docs/security.md, "Rotating the email
 * index key"). Run by an operator as the `ops` Redis user: `npx tsx scripts/reindex-user-emails.ts`.
 */
import type { Redis } from "ioredis";
import { LuaScript } from "../../lib/redis/index.js";
import type { UserDataCipher } from "../../lib/security/user-data.js";
import { emailKey, userKey } from "./keys.js";
import { isSealed, scanBatches } from "./seal-clear-users.js";

/**
 * KEYS: new claim, old claim, user; ARGV: user id, new blind index. The record's `claim` field
 * (what DELETE frees without opening the email, break35 F4) follows the claim.
 */
const MOVE_CLAIM = new LuaScript(`
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 'EMAIL_TAKEN' end
local moved = 'ALREADY'
if not holder then redis.call('SET', KEYS[1], ARGV[1]) moved = 'MOVED' end
if KEYS[1] ~= KEYS[2] and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  moved = 'MOVED'
end
if redis.call('EXISTS', KEYS[3]) == 1 then redis.call('HSET', KEYS[3], 'claim', ARGV[2]) end
return moved`);

export interface ReindexResult {
  users: number;
  moved: number;
  alreadyMoved: number;
  /** EMAIL_TAKEN: another user holds the new claim; IN_CLEAR: run sealClearUsers first. */
  skipped: { id: string; reason: "EMAIL_TAKEN" | "IN_CLEAR" | "UNREADABLE" }[];
}

/**
 * @param from a cipher with the data keys and the *old* index key
 * @param to the same data keys and the *new* index key
 */
export async function reindexUserEmails(
  redis: Redis,
  ciphers: { from: UserDataCipher; to: UserDataCipher },
  options: { batch?: number } = {},
): Promise<ReindexResult> {
  const result: ReindexResult = { users: 0, moved: 0, alreadyMoved: 0, skipped: [] };
  const prefix = userKey("");
  for await (const { keys } of scanBatches(redis, `${prefix}*`, options.batch ?? 100)) {
    for (const key of keys) {
      const id = key.slice(prefix.length);
      const data = await redis.hget(key, "data");
      if (data === null) continue;
      result.users++;
      let sealedEmail: unknown;
      try {
        sealedEmail = (JSON.parse(data) as { email?: unknown }).email;
      } catch {
        sealedEmail = undefined;
      }
      if (typeof sealedEmail !== "string") {
        result.skipped.push({ id, reason: "UNREADABLE" });
        continue;
      }
      if (!isSealed(sealedEmail)) {
        result.skipped.push({ id, reason: "IN_CLEAR" });
        continue;
      }
      const email = ciphers.to.open(id, "email", sealedEmail);
      const index = ciphers.to.emailIndex(email);
      const claims = [emailKey(index), emailKey(ciphers.from.emailIndex(email)), key];
      const reply = await MOVE_CLAIM.run(redis, claims, [id, index]);
      if (reply === "MOVED") result.moved++;
      else if (reply === "ALREADY") result.alreadyMoved++;
      else result.skipped.push({ id, reason: "EMAIL_TAKEN" });
    }
  }
  return result;
}
