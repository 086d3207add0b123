/**
 * Redis adapter of the user store. Each write is one Lua script that checks (email claim, version,
 * dedupe mark), writes the state and XADDs the prepared events, so state and events never diverge
 * and two concurrent creates with one email cannot both succeed.
 *
 * Contact data at rest (issue 12, item 1): the record holds the email and phone sealed
 * (UserDataCipher, AES-256-GCM, bound to the user and the field), and the email claim key names
 * the email's blind index (HMAC-SHA256 under the email index key), never the email. `get` opens
 * them: callers see the user in clear.
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { NotificationPreferencesSchema, SealedContactSchema } from "../../contracts/common.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { OUTBOX_LUA, type OutboxArgs, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import { DEADLINE_LUA, deadlineArg, LATE_REPLY, lateReplyError } from "../../lib/redis/write-deadline.js";
import type { UserDataCipher } from "../../lib/security/user-data.js";
import { BusError } from "../../lib/bus/errors.js";
import type { User, UserStatus } from "./domain.js";
import { deletedKey, emailKey, userEventStreamKey, userKey, validationKey } from "./keys.js";
import {
  assertOwnEvents,
  type CreateOnce,
  type CreateResult,
  type StoredUser,
  type UserStore,
  type WriteFailure,
  type WriteResult,
} from "./store.js";

/** Spans show the email claim's family, not its blind index (break35 F8: it linked traces to one email). */
const SPAN_KEY = { spanKey: (key: string) => key.replace(/:email:.*$/, ":email:<blind index>") };

// The record's `claim` field is the blind index naming its email claim (`{user}:email:<claim>`): an
// HMAC, readable without the data keys, so a user sealed under a dropped key can still be deleted
// and its email freed (break35 F4). Records written before it have none (see `remove`).

/**
 * Creates a user: version 1 (FIRST_VERSION, domain.ts, which user.created carries). KEYS: email
 * claim, user, the Idempotency-Key's record (break35 F2; without a key the user's key again,
 * unused), streams...; ARGV: id, json, claim, request hash ('' without a key), record TTL ms,
 * deadline (epoch ms, '' for none: `DEADLINE_LUA`), bodies... → 'OK', 'EMAIL_TAKEN', the key's
 * record (`<hash> <id>`, `<hash> -` for a refusal) when the key was seen (nothing written), or
 * 'late:<ms>' (Redis `TIME` past the deadline, read after the replay and before any write: nothing
 * written). A refusal is kept under the key too, as a restock's: a late copy of the refused request
 * never creates.
 */
const CREATE = new LuaScript(
  `${OUTBOX_LUA}${DEADLINE_LUA}
local keyed = ARGV[4] ~= ''
if keyed then
  local seen = redis.call('GET', KEYS[3])
  if seen then return seen end
end
local late = past_deadline(ARGV[6])
if late then return 'late:' .. string.format('%d', late) end
if redis.call('EXISTS', KEYS[1]) == 1 then
  if keyed then redis.call('SET', KEYS[3], ARGV[4] .. ' -', 'PX', ARGV[5]) end
  return 'EMAIL_TAKEN'
end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(4)
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'data', ARGV[2], 'version', 1, 'claim', ARGV[3])
if keyed then redis.call('SET', KEYS[3], ARGV[4] .. ' ' .. ARGV[1], 'PX', ARGV[5]) end
outbox(4, 7)
return 'OK'`,
  SPAN_KEY,
);

// KEYS: user, old email, new email, streams...; ARGV: expected version, id, json, new claim, deadline
// (epoch ms, '' for none), bodies... Past the deadline by Redis `TIME`: 'late:<ms>', nothing written
// (fixdl: a late copy of an update undid a later write).
const UPDATE = new LuaScript(`${OUTBOX_LUA}${DEADLINE_LUA}
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return 'NOT_FOUND' end
if v ~= ARGV[1] then return 'CONFLICT' end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[2] then return 'EMAIL_TAKEN' end
local late = past_deadline(ARGV[5])
if late then return 'late:' .. string.format('%d', late) end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(4)
if KEYS[2] ~= KEYS[3] then redis.call('DEL', KEYS[2]) end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[1], 'data', ARGV[3], 'version', tonumber(v) + 1, 'claim', ARGV[4])
outbox(4, 6)
return 'OK'`);

// KEYS: user, deleted mark, email claim, streams...; ARGV: expected version, id, '1' when KEYS[3]
// is the user's claim ('0': unknown, nothing freed), deadline (epoch ms, '' for none), bodies... The
// claim goes only if it names the user. Past the deadline by Redis `TIME`: 'late:<ms>', nothing
// written (fixdl: a late delete discarded a later update the client made after its check).
const REMOVE = new LuaScript(`${OUTBOX_LUA}${DEADLINE_LUA}
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return 'NOT_FOUND' end
if v ~= ARGV[1] then return 'CONFLICT' end
local late = past_deadline(ARGV[4])
if late then return 'late:' .. string.format('%d', late) end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(4)
redis.call('DEL', KEYS[1])
if ARGV[3] == '1' and redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
redis.call('SET', KEYS[2], '1')
outbox(4, 5)
return 'OK'`);

/**
 * KEYS: validation mark, user, deleted mark, streams...; ARGV: mark lifetime ms, the status the
 * bodies answer, bodies... Reads the user's status and writes the answer only when it is the one
 * the bodies were built for: → 1 (answered), 0 (already answered: nothing written), or the actual
 * status ('active' | 'deleted' | 'missing') when the bodies answer another (nothing written).
 */
const ANSWER = new LuaScript(`${OUTBOX_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local status = 'missing'
if redis.call('EXISTS', KEYS[2]) == 1 then status = 'active'
elseif redis.call('EXISTS', KEYS[3]) == 1 then status = 'deleted' end
if status ~= ARGV[2] then return status end
-- The mark last (README step 2's rule; newuser17 F1): a failing XADD (checked first by outbox)
-- leaves no mark without its answer.
outbox(4, 3)
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return 1`);

/**
 * Rounds of `answerValidation` before it gives up (a retryable failure): each round after the first
 * means the user's status changed between two calls of a few hundred microseconds.
 */
const MAX_ANSWER_ROUNDS = 4;

/** Lifetime of a validation mark when none is given: 7 days, as `DEFAULT_RETENTION.markerTtlMs`. */
const DEFAULT_MARKER_TTL_MS = 7 * 86_400_000;

export interface RedisUserStoreOptions {
  /**
   * Lifetime (ms) of the per-order validation marks: they only dedupe redeliveries of one
   * validation request, so they outlive every redelivery window and then go.
   */
  markerTtlMs?: number;
}

/** The stored record: the user with its email and phone sealed. */
const UserRecordSchema = z.object({
  id: z.string(),
  email: SealedContactSchema,
  name: z.string(),
  phone: SealedContactSchema.optional(),
  preferences: NotificationPreferencesSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
});

/** Stream keys and bodies of the messages; only the service's own events share its slot (one script may write them). */
function outbox(messages: readonly OutgoingMessage[]): OutboxArgs {
  assertOwnEvents(messages);
  return outboxArgs(messages, (m) => userEventStreamKey(m.topic));
}

function toResult(reply: unknown): WriteResult {
  if (reply === "OK") return { ok: true };
  return { ok: false, code: reply as WriteFailure };
}

export class RedisUserStore implements UserStore {
  private readonly markerTtlMs: number;

  /**
   * @param cipher seals the email and phone at rest and indexes emails (it needs the email index
   *   key: `userDataCipherFromEnv(env, { withIndex: true })`).
   */
  constructor(
    private readonly redis: Redis,
    private readonly cipher: UserDataCipher,
    options: RedisUserStoreOptions = {},
  ) {
    this.markerTtlMs = options.markerTtlMs ?? DEFAULT_MARKER_TTL_MS;
  }

  /** Throws DecryptionError (DECRYPTION_FAILED) when the record was sealed with a key no longer listed. */
  async get(id: string): Promise<StoredUser | undefined> {
    const hash = await this.redis.hgetall(userKey(id));
    if (hash.data === undefined || hash.version === undefined) return undefined;
    const record = UserRecordSchema.parse(JSON.parse(hash.data));
    const user: User = {
      ...record,
      email: this.cipher.open(id, "email", record.email),
      ...(record.phone === undefined ? {} : { phone: this.cipher.open(id, "phone", record.phone) }),
    };
    return { user, version: Number(hash.version) };
  }

  /** The user as stored: email and phone sealed (a fresh nonce each time). */
  private sealed(user: User): string {
    return JSON.stringify({
      ...user,
      email: this.cipher.seal(user.id, "email", user.email),
      ...(user.phone === undefined ? {} : { phone: this.cipher.seal(user.id, "phone", user.phone) }),
    });
  }

  private emailClaim(email: string): string {
    return emailKey(this.cipher.emailIndex(email));
  }

  async create(
    user: User,
    messages: readonly OutgoingMessage[],
    once?: CreateOnce,
    applyBy?: number,
  ): Promise<CreateResult> {
    const out = outbox(messages);
    const claim = this.cipher.emailIndex(user.email);
    const keys = [emailKey(claim), userKey(user.id), once?.key ?? userKey(user.id), ...out.keys];
    const args = [
      user.id,
      this.sealed(user),
      claim,
      once?.requestHash ?? "",
      once?.ttlMs ?? 0,
      deadlineArg(applyBy),
    ];
    const reply = String(await CREATE.run(this.redis, keys, [...args, ...out.bodies]));
    if (reply === "OK") return { ok: true };
    if (reply.startsWith(LATE_REPLY)) throw lateReplyError(`creating user ${user.id}`, applyBy, reply);
    if (reply === "EMAIL_TAKEN") return { ok: false, code: "EMAIL_TAKEN" };
    const [requestHash, userId = ""] = reply.split(" ");
    if (requestHash !== once?.requestHash) return { ok: false, code: "KEY_REUSED" };
    if (userId === "-") return { ok: false, code: "EMAIL_TAKEN", replayed: true };
    return { ok: false, code: "REPLAYED", userId };
  }

  async update(
    previous: StoredUser,
    next: User,
    messages: readonly OutgoingMessage[],
    applyBy?: number,
  ): Promise<WriteResult> {
    const out = outbox(messages);
    const keys = [
      userKey(next.id),
      this.emailClaim(previous.user.email),
      this.emailClaim(next.email),
      ...out.keys,
    ];
    const args = [
      previous.version,
      next.id,
      this.sealed(next),
      this.cipher.emailIndex(next.email),
      deadlineArg(applyBy),
    ];
    return this.result(
      `updating user ${next.id}`,
      applyBy,
      await UPDATE.run(this.redis, keys, [...args, ...out.bodies]),
    );
  }

  /**
   * Never opens the contact fields (break35 F4): the claim comes from the record's `claim` field.
   * A record written before that field existed has its email opened to find the claim; when that
   * fails too (sealed under a dropped key) the user is deleted and its claim left, an orphan that
   * `scripts/reseal-users.ts` releases (docs/security.md, "Rotating the user data key").
   */
  /** A write script's reply; `late:<ms>` (past `applyBy`: nothing written) thrown as WriteDeadlineError. */
  private result(write: string, applyBy: number | undefined, reply: unknown): WriteResult {
    if (typeof reply === "string" && reply.startsWith(LATE_REPLY))
      throw lateReplyError(write, applyBy, reply);
    return toResult(reply);
  }

  async remove(id: string, messages: readonly OutgoingMessage[], applyBy?: number): Promise<WriteResult> {
    const [version = null, claim = null, data = null] = await this.redis.hmget(
      userKey(id),
      "version",
      "claim",
      "data",
    );
    if (version === null) return { ok: false, code: "NOT_FOUND" };
    const claimKey = claim === null ? this.legacyClaim(id, data) : emailKey(claim);
    const out = outbox(messages);
    const keys = [userKey(id), deletedKey(id), claimKey ?? deletedKey(id), ...out.keys];
    const args = [version, id, claimKey === undefined ? "0" : "1", deadlineArg(applyBy), ...out.bodies];
    return this.result(`deleting user ${id}`, applyBy, await REMOVE.run(this.redis, keys, args));
  }

  /** The claim of a record without a `claim` field, from its email; undefined when it does not open. */
  private legacyClaim(id: string, data: string | null): string | undefined {
    try {
      const record = UserRecordSchema.parse(JSON.parse(data ?? ""));
      return this.emailClaim(this.cipher.open(id, "email", record.email));
    } catch {
      return undefined;
    }
  }

  async answerValidation(
    orderId: string,
    userId: string,
    answer: (status: UserStatus) => readonly OutgoingMessage[],
  ): Promise<boolean> {
    // Most requests are for an active user: one call. Another status is learnt from the reply.
    let status: UserStatus = "active";
    for (let round = 0; round < MAX_ANSWER_ROUNDS; round++) {
      const out = outbox(answer(status));
      const keys = [validationKey(orderId), userKey(userId), deletedKey(userId), ...out.keys];
      const reply = await ANSWER.run(this.redis, keys, [this.markerTtlMs, status, ...out.bodies]);
      if (reply === 1 || reply === 0) return reply === 1;
      status = reply as UserStatus;
    }
    throw new BusError(
      "USER_CONTENDED",
      `user ${userId} kept changing while order ${orderId} was validated`,
      {
        retryable: true,
      },
    );
  }
}
