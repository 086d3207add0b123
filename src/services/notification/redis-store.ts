/**
 * Redis adapter of the notification store. The claim of a dedupe key and the finishing of a
 * notification with its event are each one Lua script, so two instances handling the same fact
 * share one notification id and only one of them emits its outcome.
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { NotificationChannelSchema, NotificationPreferencesSchema } from "../../contracts/common.js";
import { OUTBOX_LUA, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import {
  type Contact,
  type ContactChange,
  type ContactRecord,
  channelEnabled,
  type NotificationRecord,
  newestFirst,
  TEMPLATES,
  type Template,
} from "./domain.js";
import { byOrderKey, byUserKey, contactKey, notificationEventStreamKey, notificationKey } from "./keys.js";
import {
  assertOwnEvents,
  type BeginEntry,
  comesAfter,
  type ContactClaim,
  type FinishEntry,
  type NotificationQuery,
  type NotificationStore,
  ownClaims,
} from "./store.js";

/** The sorted sets a record is listed in. */
const indexesOf = (record: NotificationRecord): string[] => [
  byUserKey(record.userId),
  ...(record.orderId ? [byOrderKey(record.orderId)] : []),
];

// Mirrors applyContactChange and isNewer (domain.ts); the shared store contract keeps them in step.
// KEYS: contact; ARGV: kind, at, contact JSON, the channels it enables (`channelField`), the user
// record's version the event carries ('' when none). The channels are a plain field beside the JSON
// so that no script decodes user text (lua-cjson refuses a lone UTF-16 surrogate such as "\ud800",
// which JSON.stringify writes and a name may hold). `channelsAt` and `versionAt` are the `at` those
// fields were written with: an earlier version's APPLY_CONTACT, during a rolling upgrade, rewrites
// `at` and `data` only, and its channels and version are then stale and not used (its `version` is
// then taken as none: the change is ordered by date). A change is applied when its version is
// greater than the applied one (break35 F7: never the publisher's clock when both have one), else
// when its `at` is not older.
const APPLY_CONTACT = new LuaScript(`
local c = redis.call('HMGET', KEYS[1], 'deleted', 'at', 'version', 'versionAt')
if c[1] == '1' then return 0 end
if ARGV[1] == 'deleted' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'deleted', '1', 'at', ARGV[2])
  return 1
end
local at, applied = c[2], c[3]
if c[4] ~= at then applied = '' end
if at then
  if ARGV[1] == 'created' then return 0 end
  if ARGV[5] ~= '' and applied ~= '' then
    if tonumber(ARGV[5]) <= tonumber(applied) then return 0 end
  elseif tonumber(at) > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], 'at', ARGV[2], 'data', ARGV[3], 'channels', ARGV[4], 'channelsAt', ARGV[2],
  'version', ARGV[5], 'versionAt', ARGV[2])
return 1`);

/**
 * The contact's `channels` field: the channels it enables (`channelEnabled`), each between commas
 * (",email,push,"), so BEGIN_FOR_CONTACT tests a channel with a plain substring search.
 */
const channelField = (contact: Contact): string =>
  `,${NotificationChannelSchema.options.filter((c) => channelEnabled(contact, c)).join(",")},`;

// A claim found still "sending" is resumed by the delivery that found it, which will call the provider
// with its id: marked taken (the JSON gains a leading "taken" field, which parseRecord drops), so that
// RELEASE, which removes only the exact JSON it claimed, no longer undoes it. Undone after being taken,
// the fact went out under this id and again under a fresh one at the next claim, and this delivery's
// finish found nothing to finish. A record's JSON holds "status":"sending" only as its own field
// (quotes inside its strings are escaped).
/**
 * Lua prelude defining `claim(k, n, json, score, member)`: the claim of one record, first claim
 * wins. Stores `json` under KEYS[k] unless a record is there, and then indexes `member` with
 * `score` in the n sorted sets KEYS[k + 1 .. k + n]. → the record in effect (JSON); a record found
 * still "sending" is first marked taken (above).
 */
const CLAIM_LUA = `
local function take(key, current)
  if string.sub(current, 1, 10) == '{"taken":1' or not string.find(current, '"status":"sending"', 1, true) then
    return current
  end
  current = '{"taken":1,' .. string.sub(current, 2)
  redis.call('SET', key, current)
  return current
end
local function claim(k, n, json, score, member)
  local current = redis.call('GET', KEYS[k])
  if current then return take(KEYS[k], current) end
  redis.call('SET', KEYS[k], json)
  for j = 1, n do redis.call('ZADD', KEYS[k + j], score, member) end
  return json
end
`;

// Claims records. KEYS: per record its key then its index keys. ARGV: count, then per record:
// index count, record JSON, score, index member. → the records in effect (JSON), in order.
const BEGIN_ALL = new LuaScript(`${CLAIM_LUA}
local k, a, out = 1, 2, {}
for i = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  out[i] = claim(k, n, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
  k, a = k + 1 + n, a + 4
end
return out`);

// Finishes records still "sending" with their id, emitting their events. KEYS: per record its key
// then its streams. ARGV: count, then per record: message count, notification id, record JSON,
// bodies. → per record 1 (finished) or 0.
const FINISH_ALL = new LuaScript(`${OUTBOX_LUA}
local k, a, out = 1, 2, {}
for i = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  local current = redis.call('GET', KEYS[k])
  local record = current and cjson.decode(current)
  if record and record.status == 'sending' and record.notificationId == ARGV[a + 1] then
    -- The events (their streams checked first) before the record: a failing XADD leaves the record
    -- 'sending' and nothing appended, so the finish is retried (newuser17 F1).
    outbox(k + 1, a + 3, n)
    redis.call('SET', KEYS[k], ARGV[a + 2])
    out[i] = 1
  else
    out[i] = 0
  end
  k, a = k + 1 + n, a + 3 + n
end
return out`);

// KEYS: contact, then per candidate its record key and index keys. ARGV: count, then per candidate:
// channel, index count, record JSON, score, index member. Reads the contact; when it is there, not
// deleted and has its `channels` field of its `at`, claims the candidates whose channel the field
// lists (written by APPLY_CONTACT from channelEnabled in domain.ts). It never decodes the contact
// JSON (user text: see APPLY_CONTACT). → {at or false, deleted, contact JSON, '1' (claimed) or '0'
// (a contact written without the field, or by an earlier version since: nothing claimed, the caller
// decides), version ('' when none, or stale: see APPLY_CONTACT), record JSON per claim...}.
// The contact's fields in one HMGET (one read of the hash, not one per field).
const BEGIN_FOR_CONTACT = new LuaScript(`${CLAIM_LUA}
local c = redis.call('HMGET', KEYS[1], 'at', 'deleted', 'data', 'channels', 'channelsAt', 'version', 'versionAt')
local at, data, channels, version = c[1], c[3], c[4], c[6]
if not at then return {false} end
if c[2] == '1' then return {at, '1'} end
if not version or c[7] ~= at then version = '' end
if not channels or c[5] ~= at then return {at, '0', data, '0', version} end
local out = {at, '0', data, '1', version}
local k, a = 2, 2
for i = 1, tonumber(ARGV[1]) do
  local channel, n = ARGV[a], tonumber(ARGV[a + 1])
  if string.find(channels, ',' .. channel .. ',', 1, true) then
    out[#out + 1] = claim(k, n, ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
  end
  k, a = k + 1 + n, a + 5
end
return out`);

// Undoes claims. KEYS: per record its key then its index keys. ARGV: count, then per record: index
// count, record JSON (as claimed), index member. Removes a record only while it is exactly the one
// given (still "sending", same id, not taken by another delivery), with its index entries. → how
// many it removed.
const RELEASE = new LuaScript(`
local k, a, removed = 1, 2, 0
for i = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a])
  if redis.call('GET', KEYS[k]) == ARGV[a + 1] then
    redis.call('DEL', KEYS[k])
    for j = 1, n do redis.call('ZREM', KEYS[k + j], ARGV[a + 2]) end
    removed = removed + 1
  end
  k, a = k + 1 + n, a + 3
end
return removed`);

const ContactSchema = z.object({
  userId: z.string(),
  name: z.string(),
  email: z.string(),
  phone: z.string().optional(),
  preferences: NotificationPreferencesSchema,
});

const RecordSchema = z.object({
  notificationId: z.string(),
  userId: z.string(),
  channel: NotificationChannelSchema,
  template: z.enum(Object.keys(TEMPLATES) as [Template, ...Template[]]),
  orderId: z.string().optional(),
  createdAt: z.string(),
  sentAt: z.string().optional(),
  status: z.enum(["sending", "sent", "failed"]),
  reason: z.string().optional(),
});

const parseRecord = (json: string): NotificationRecord => RecordSchema.parse(JSON.parse(json));

export class RedisNotificationStore implements NotificationStore {
  constructor(private readonly redis: Redis) {}

  async applyContact(change: ContactChange): Promise<boolean> {
    const userId = change.kind === "deleted" ? change.userId : change.contact.userId;
    const data = change.kind === "deleted" ? "" : JSON.stringify(change.contact);
    const channels = change.kind === "deleted" ? "" : channelField(change.contact);
    const reply = await APPLY_CONTACT.run(
      this.redis,
      [contactKey(userId)],
      [change.kind, change.at, data, channels, change.kind === "deleted" ? "" : (change.version ?? "")],
    );
    return reply === 1;
  }

  async beginAll(entries: readonly BeginEntry[]): Promise<NotificationRecord[]> {
    if (entries.length === 0) return [];
    const keys: string[] = [];
    const args: (string | number)[] = [entries.length];
    for (const { key, record } of entries) {
      const indexes = indexesOf(record);
      keys.push(notificationKey(key), ...indexes);
      args.push(indexes.length, JSON.stringify(record), Date.parse(record.createdAt), key);
    }
    const reply = (await BEGIN_ALL.run(this.redis, keys, args)) as unknown[];
    return reply.map((json) => parseRecord(String(json)));
  }

  async beginForContact(userId: string, candidates: readonly BeginEntry[]): Promise<ContactClaim> {
    const keys = [contactKey(userId)];
    const args: (string | number)[] = [candidates.length];
    for (const { key, record } of candidates) {
      const indexes = indexesOf(record);
      keys.push(notificationKey(key), ...indexes);
      args.push(record.channel, indexes.length, JSON.stringify(record), Date.parse(record.createdAt), key);
    }
    const [at, deleted, data, claimed, version, ...replies] = (await BEGIN_FOR_CONTACT.run(
      this.redis,
      keys,
      args,
    )) as unknown[];
    if (at === null || at === undefined) return { contact: undefined, records: [] };
    if (deleted === "1") return { contact: { at: Number(at), deleted: true }, records: [] };
    const records = replies.map((json) => parseRecord(String(json)));
    let contact: Contact;
    try {
      contact = ContactSchema.parse(JSON.parse(String(data)));
    } catch (error) {
      // Unreadable: nothing of this fact may stay claimed (it would stay "sending" forever).
      await this.release(ownClaims(candidates, records));
      throw error;
    }
    const record: ContactRecord = {
      at: Number(at),
      ...(version === "" || version === undefined ? {} : { version: Number(version) }),
      contact,
      deleted: false,
    };
    if (claimed === "1") return { contact: record, records };
    // A contact written without its `channels` field (or by an earlier version since): decided
    // here, claimed in a second call.
    const chosen = candidates.filter((c) => channelEnabled(contact, c.record.channel));
    return { contact: record, records: await this.beginAll(chosen) };
  }

  async release(entries: readonly BeginEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const keys: string[] = [];
    const args: (string | number)[] = [entries.length];
    for (const { key, record } of entries) {
      const indexes = indexesOf(record);
      keys.push(notificationKey(key), ...indexes);
      args.push(indexes.length, JSON.stringify(record), key);
    }
    await RELEASE.run(this.redis, keys, args);
  }

  async finishAll(entries: readonly FinishEntry[]): Promise<boolean[]> {
    if (entries.length === 0) return [];
    const keys: string[] = [];
    const args: (string | number)[] = [entries.length];
    for (const { key, record, messages } of entries) {
      assertOwnEvents(messages);
      const outbox = outboxArgs(messages, (m) => notificationEventStreamKey(m.topic));
      keys.push(notificationKey(key), ...outbox.keys);
      args.push(messages.length, record.notificationId, JSON.stringify(record), ...outbox.bodies);
    }
    const reply = (await FINISH_ALL.run(this.redis, keys, args)) as unknown[];
    return reply.map((done) => done === 1);
  }

  async list(query: NotificationQuery): Promise<NotificationRecord[]> {
    if (query.userId === undefined && query.orderId === undefined) return [];
    const index = query.orderId !== undefined ? byOrderKey(query.orderId) : byUserKey(query.userId!);
    // The user filter on an order's index cannot be a range: over-read (one order's few), then filter.
    const members =
      query.orderId !== undefined && query.userId !== undefined
        ? await this.redis.zrevrange(index, 0, -1)
        : await this.pageMembers(index, query);
    if (members.length === 0) return [];
    const values = await this.redis.mget(members.map(notificationKey));
    const after = query.after;
    return values
      .filter((v): v is string => v !== null)
      .map(parseRecord)
      .filter((r) => query.userId === undefined || r.userId === query.userId)
      .filter((r) => after === undefined || comesAfter(r, after))
      .sort(newestFirst)
      .slice(0, query.limit);
  }

  /**
   * Index members that can be on the page: every member of the cursor's millisecond (the index
   * orders ties by key, the page by notification id), then `limit` older ones, and every member of
   * the last millisecond read (so a tie group is never cut). O(limit + ties), whatever the total.
   */
  private async pageMembers(index: string, query: NotificationQuery): Promise<string[]> {
    const members: string[] = [];
    let max = "+inf";
    if (query.after !== undefined) {
      const ms = Date.parse(query.after.createdAt);
      members.push(...(await this.redis.zrangebyscore(index, ms, ms)));
      max = `(${ms}`;
    }
    const flat = await this.redis.zrevrangebyscore(index, max, "-inf", "WITHSCORES", "LIMIT", 0, query.limit);
    for (let i = 0; i < flat.length; i += 2) members.push(flat[i] ?? "");
    const lowest = flat.at(-1);
    if (lowest !== undefined && flat.length / 2 === query.limit) {
      members.push(...(await this.redis.zrangebyscore(index, lowest, lowest)));
    }
    return [...new Set(members)];
  }
}
