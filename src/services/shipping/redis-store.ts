import type { Redis } from "ioredis";
import { z } from "zod";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { OUTBOX_LUA, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import type { ShipmentRecord, ShipmentStatus } from "./domain.js";
import { dueFailuresKey, dueKey, dueUnreadableKey, parkedKey, shipmentKey } from "./keys.js";
import {
  assertOwnEvents,
  type DamagedKey,
  type DeferredDelivery,
  type ParkedDelivery,
  type ParkPolicy,
  type RetryBackoff,
  type ScheduleOutcome,
  type ShippingStore,
} from "./store.js";

const ShipmentRecordSchema = z.object({
  orderId: z.string(),
  status: z.enum(["prepared", "rejected", "cancelled", "delivered", "voided"]),
  userId: z.string().optional(),
  items: z.array(z.object({ productId: z.string(), quantity: z.number() })).optional(),
  shipmentId: z.string().optional(),
  trackingNumber: z.string().optional(),
  carrier: z.string().optional(),
  reason: z.string().optional(),
  correlationId: z.string().optional(),
  deliverAt: z.string().optional(),
  traceparent: z.string().optional(),
  deliveredAt: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

// No script leaves a partial write behind a key of another type: Redis does not undo a script's
// writes when a later command fails, so a claim whose XADD met a stream key of another type kept its
// ZREM and the shipment left the schedule undelivered (ship8 item 2). A key's type is known without
// a TYPE call when the script has read it before its first write (HGET, HMGET, ZSCORE, HEXISTS fail
// on another type and write nothing) or when its write is the script's first (it fails alone):
// `expect_type` (one TYPE) is left only for the other keys a script writes after its first write.
// Writes are also ordered so that one failing for another reason (an ACL without the command)
// leaves what must not be lost in place: events before the status they announce, the schedule entry
// removed after, counts last (break-late7 F4).
const EXPECT_TYPE_LUA = `
local function expect_type(key, want)
  local got = redis.call('TYPE', key)['ok']
  if got ~= 'none' and got ~= want then
    error({err = 'WRONGTYPE ' .. key .. ' holds a ' .. got .. ', not a ' .. want})
  end
end
-- The streams KEYS[k0..] of an outbox(k0, ...) that is the script's first write: its first XADD
-- fails alone, so only the later streams are checked.
local function expect_streams(k0)
  for i = k0 + 1, #KEYS do expect_type(KEYS[i], 'stream') end
end
local damaged = {}
-- The reply of a redis.pcall on a bookkeeping key: → the reply and true, or nil and false when the
-- key holds another type (the command wrote nothing; the key and its type are kept for the reply).
-- Any other error (an ACL refusal) fails the script as redis.call would.
local function kept(key, reply)
  if type(reply) ~= 'table' or not reply.err then return reply, true end
  if string.sub(reply.err, 1, 9) ~= 'WRONGTYPE' then error(reply) end
  damaged[#damaged + 1] = key
  damaged[#damaged + 1] = redis.call('TYPE', key)['ok']
  return nil, false
end
local function with_damage(reply)
  for _, v in ipairs(damaged) do reply[#reply + 1] = v end
  return reply
end
-- Removes an order's failure and unreadable counts, KEYS[k] and KEYS[k + 1], after the script's
-- other writes (a count left behind is harmless: swept).
local function forget_counts(k, orderId)
  kept(KEYS[k], redis.pcall('HDEL', KEYS[k], orderId))
  kept(KEYS[k + 1], redis.pcall('HDEL', KEYS[k + 1], orderId))
end
`;

// The bookkeeping keys (failure and unreadable counts, parked entries) never gate a delivery or a
// move-back (break9 F4: a wrong-typed one failed every claim or every move-back, and no shipment
// was delivered). A script writes such a key with redis.pcall and \`kept\`, which skips it when it
// holds another type; the reply then ends with (key, type) pairs, which the store keeps for the
// poller to report (\`damagedKeys\`).

// KEYS: record, due set, failure counts, unreadable counts, then one stream per message. ARGV:
// expected status ('' = none), new status, record JSON, unschedule ('1' | ''), order id, then
// bodies. Only SCHEDULE adds to the due set; failure counts leave with their entry. The HGET checks
// the record's type; the due set, removed from after the first write, is checked by TYPE.
const COMMIT = new LuaScript(`${OUTBOX_LUA}${EXPECT_TYPE_LUA}
local current = redis.call('HGET', KEYS[1], 'status') or ''
if current ~= ARGV[1] then return {0} end
if ARGV[4] == '1' then expect_type(KEYS[2], 'zset') end
expect_streams(5)
outbox(5, 6)
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'data', ARGV[3])
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[2], ARGV[5])
  -- Last: a count left behind is harmless (swept) where a status written without its event is not.
  forget_counts(3, ARGV[5])
end
return with_damage({1})
`);

// Mirrors decideSchedule and scheduledRecord (domain.ts); the shared store contract keeps them in
// step. KEYS: record, due set. ARGV: order id, due score, then as JSON values (JSON.stringify'd in
// TypeScript): deliverAt, updatedAt, traceparent ('' = none). Reads the shipment itself, so
// scheduling is one call with no read before it. The record's JSON is spliced, never decoded
// (lua-cjson would turn `[]` into `{}` and refuses a lone surrogate a user's text may hold):
// updatedAt's value replaced in place, deliverAt (and the traceparent) appended, the key order
// JSON.stringify gives `{ ...record, deliverAt, traceparent, updatedAt }` (a prepared record not
// yet scheduled has neither key). Only encoded JSON values are spliced: a raw ARGV string holding
// `"`, `\` or a newline made the record unreadable, and a lone surrogate became U+FFFD on the wire
// (break-svc F1). Inside a JSON string a quote is escaped, so '"updatedAt":' and '"deliverAt":'
// only ever match keys, and updatedAt's value (an ISO time) has no escaped quote before its end.
// The entry is added before the record says it is scheduled: a record saying so with no entry
// would never be delivered (a retry answers "delivery already scheduled"). The ZADD is the first
// write (a due set of another type fails it alone) and the HMGET checked the record's type.
// → 'scheduled', or why not (decideSchedule's words).
const SCHEDULE = new LuaScript(`
local got = redis.call('HMGET', KEYS[1], 'status', 'data')
local status, data = got[1], got[2]
if status ~= 'prepared' or not data then return 'shipment ' .. (status or 'unknown') end
if string.find(data, '"deliverAt":', 1, true) then return 'delivery already scheduled' end
local _, at = string.find(data, '"updatedAt":"', 1, true)
if not at then error('shipment record of ' .. ARGV[1] .. ' has no updatedAt') end
local close = string.find(data, '"', at + 1, true)
data = string.sub(data, 1, at - 1) .. ARGV[4] .. string.sub(data, close + 1, -2) .. ',"deliverAt":' .. ARGV[3]
if ARGV[5] ~= '' then data = data .. ',"traceparent":' .. ARGV[5] end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[1], 'data', data .. '}')
return 'scheduled'
`);

// KEYS: due set, record, failure counts, unreadable counts, then one stream per message. ARGV:
// order id, record JSON, then bodies. Only the caller that finds the entry takes it (the script is
// atomic), so two pollers never deliver one shipment twice; the entry is removed after the event
// and the status are written, so a failing write leaves the shipment scheduled. The ZSCORE and the
// HGET check the due set's and the record's types.
const CLAIM = new LuaScript(`${OUTBOX_LUA}${EXPECT_TYPE_LUA}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {0} end
local status = redis.call('HGET', KEYS[2], 'status')
if status ~= 'prepared' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  forget_counts(3, ARGV[1])
  return with_damage({0})
end
expect_streams(5)
outbox(5, 3)
redis.call('HSET', KEYS[2], 'status', 'delivered', 'data', ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[1])
forget_counts(3, ARGV[1])
return with_damage({1})
`);

// KEYS: due set, failure counts, unreadable counts. ARGV: order id. The ZREM is the first write.
const DROP = new LuaScript(`${EXPECT_TYPE_LUA}
redis.call('ZREM', KEYS[1], ARGV[1])
forget_counts(2, ARGV[1])
return with_damage({1})
`);

// Mirrors MemoryShippingStore.deferDue and retryDelayMs (store.ts); the store contract keeps them in
// step. KEYS: due set, failure counts, unreadable counts, parked. ARGV: order id, now, baseMs, maxMs
// (integer ms), parkAfter (0: not an unreadable record, its streak restarts), parked value JSON
// (an object: the failures are spliced in as "tries" before its closing brace).
// Only an entry still due at now moves: a poller that failed it after another one moved it (or after
// a claim took it) changes nothing, so one failure counts once, nothing is put back, and a shipment
// is parked once. The score is written as an integer string (a Lua number would be formatted with
// 14 significant digits). → {failures, retryAt}, {failures, 'parked'}, or nil; then damaged keys.
// A damaged bookkeeping key never keeps the entry from moving back: without the failure count the
// try is the first and the delay the longest (the count is unknown: the slow side); without the
// unreadable count or the parked hash the shipment is not parked, only moved back. The ZSCORE checks
// the due set's type and each count's HGET its hash's; the parked HSET, when it parks, is the first
// write (a parked key of another type fails it alone, and the entry moves back instead).
const DEFER = new LuaScript(`${EXPECT_TYPE_LUA}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = tonumber(ARGV[2])
if not score or tonumber(score) > now then return nil end
local count, failures_ok = kept(KEYS[2], redis.pcall('HGET', KEYS[2], ARGV[1]))
local failures = 1
if failures_ok then failures = tonumber(count or '0') + 1 end
local park_after = tonumber(ARGV[5])
local streak_ok, streak = false, 0
if park_after > 0 then
  local got
  got, streak_ok = kept(KEYS[3], redis.pcall('HGET', KEYS[3], ARGV[1]))
  if streak_ok then streak = tonumber(got or '0') + 1 end
end
if streak_ok and streak >= park_after then
  local value = string.sub(ARGV[6], 1, -2) .. ',"tries":' .. failures .. '}'
  local _, parked = kept(KEYS[4], redis.pcall('HSET', KEYS[4], ARGV[1], value))
  if parked then
    redis.call('ZREM', KEYS[1], ARGV[1])
    if failures_ok then redis.call('HDEL', KEYS[2], ARGV[1]) end
    redis.call('HDEL', KEYS[3], ARGV[1])
    return with_damage({failures, 'parked'})
  end
end
local delay = tonumber(ARGV[3]) * 2 ^ math.min(math.max(failures - 1, 0), 52)
if delay > tonumber(ARGV[4]) or not failures_ok then delay = tonumber(ARGV[4]) end
local at = string.format('%.0f', now + delay)
redis.call('ZADD', KEYS[1], 'XX', at, ARGV[1])
if failures_ok then redis.call('HSET', KEYS[2], ARGV[1], failures) end
if streak_ok then
  redis.call('HSET', KEYS[3], ARGV[1], streak)
elseif park_after == 0 then
  kept(KEYS[3], redis.pcall('HDEL', KEYS[3], ARGV[1]))
end
return with_damage({failures, at})
`);

// KEYS: parked, due set, failure counts, unreadable counts. ARGV: order id, due score. The entry is
// added before the parked field is removed: a failure in between leaves it parked and scheduled
// (delivered once; the operator deletes the field), never neither. The HEXISTS checks the parked
// hash's type; the ZADD is the first write.
const REQUEUE = new LuaScript(`${EXPECT_TYPE_LUA}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {0} end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
forget_counts(3, ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
return with_damage({1})
`);

// KEYS: due set, then the one count hash this step walks. ARGV: its HSCAN cursor ("0" to start),
// HSCAN COUNT. Removes the counts whose order is not on the schedule, checked in the same step (a
// count is only ever written with its entry on the schedule). A hash of another type is skipped (its
// walk is over). → {next cursor ("0": this hash is done), removed}, then damaged keys.
const SWEEP = new LuaScript(`${EXPECT_TYPE_LUA}
local page, ok = kept(KEYS[2], redis.pcall('HSCAN', KEYS[2], ARGV[1], 'COUNT', ARGV[2]))
if not ok then return with_damage({'0', 0}) end
local removed = 0
for i = 1, #page[2], 2 do
  local orderId = page[2][i]
  if not redis.call('ZSCORE', KEYS[1], orderId) then
    removed = removed + redis.call('HDEL', KEYS[2], orderId)
  end
end
return with_damage({page[1], removed})
`);

const ParkedSchema = z.object({
  reason: z.string(),
  parkedAt: z.number(),
  tries: z.number().int().nonnegative().optional(),
});

/** One parked entry; a hand-damaged one is listed with its raw text as the reason (no time), not thrown. */
const parkedOf = (orderId: string, value: string): ParkedDelivery => {
  let parsed: z.infer<typeof ParkedSchema> | undefined;
  try {
    parsed = ParkedSchema.parse(JSON.parse(value));
  } catch {
    return { orderId, reason: `unreadable parked entry: ${value.slice(0, 200)}` };
  }
  const { tries, ...rest } = parsed;
  return { orderId, ...rest, ...(tries === undefined ? {} : { tries }) };
};

/** Most damaged keys kept between two `damagedKeys()` calls (there are three such keys). */
const MAX_DAMAGED = 16;

export class RedisShippingStore implements ShippingStore {
  /** Bookkeeping keys a script found of another type and skipped, by key, until drained. */
  private readonly damaged = new Map<string, string>();

  constructor(private readonly redis: Redis) {}

  /** See `ShippingStore.damagedKeys`: drains what the scripts reported since the last call. */
  damagedKeys(): DamagedKey[] {
    const keys = [...this.damaged].map(([key, type]) => ({ key, type }));
    this.damaged.clear();
    return keys;
  }

  /** A script's reply: its first `head` values, after keeping the (key, type) pairs that follow. */
  private answer(reply: unknown, head: number): unknown[] {
    const values = reply as unknown[];
    for (let i = head; i + 1 < values.length; i += 2) {
      if (this.damaged.size < MAX_DAMAGED) this.damaged.set(String(values[i]), String(values[i + 1]));
    }
    return values.slice(0, head);
  }

  async get(orderId: string): Promise<ShipmentRecord | undefined> {
    const data = await this.redis.hget(shipmentKey(orderId), "data");
    return data === null ? undefined : ShipmentRecordSchema.parse(JSON.parse(data));
  }

  async commit(
    record: ShipmentRecord,
    expected: ShipmentStatus | null,
    messages: readonly OutgoingMessage[],
    unschedule = false,
  ): Promise<boolean> {
    assertOwnEvents(messages);
    const outbox = outboxArgs(messages);
    const keys = [shipmentKey(record.orderId), ...countedScheduleKeys(), ...outbox.keys];
    const args = [
      expected ?? "",
      record.status,
      JSON.stringify(record),
      unschedule ? "1" : "",
      record.orderId,
    ];
    const [done] = this.answer(await COMMIT.run(this.redis, keys, [...args, ...outbox.bodies]), 1);
    return done === 1;
  }

  async scheduleDelivery(
    orderId: string,
    now: number,
    delayMs: number,
    traceparent?: string,
  ): Promise<ScheduleOutcome> {
    const dueAt = now + delayMs;
    const args = [
      orderId,
      dueAt,
      JSON.stringify(new Date(dueAt).toISOString()),
      JSON.stringify(new Date(now).toISOString()),
      // As scheduledRecord: an empty traceparent is none.
      traceparent ? JSON.stringify(traceparent) : "",
    ];
    const reply = String(await SCHEDULE.run(this.redis, [shipmentKey(orderId), dueKey()], args));
    return reply === "scheduled" ? { scheduled: true } : { scheduled: false, why: reply };
  }

  async due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(dueKey(), "-inf", now, "LIMIT", 0, limit);
  }

  async claimDelivery(record: ShipmentRecord, messages: readonly OutgoingMessage[]): Promise<boolean> {
    assertOwnEvents(messages);
    if (record.status !== "delivered") throw new Error("claimDelivery writes a delivered record");
    const outbox = outboxArgs(messages);
    const keys = [
      dueKey(),
      shipmentKey(record.orderId),
      dueFailuresKey(),
      dueUnreadableKey(),
      ...outbox.keys,
    ];
    const args = [record.orderId, JSON.stringify(record), ...outbox.bodies];
    const [won] = this.answer(await CLAIM.run(this.redis, keys, args), 1);
    return won === 1;
  }

  async dropDue(orderId: string): Promise<void> {
    this.answer(await DROP.run(this.redis, countedScheduleKeys(), [orderId]), 1);
  }

  async deferDue(
    orderId: string,
    now: number,
    backoff: RetryBackoff,
    park?: ParkPolicy,
  ): Promise<DeferredDelivery | undefined> {
    const at = Math.floor(now);
    const args = [
      orderId,
      at,
      Math.floor(backoff.baseMs),
      Math.floor(backoff.maxMs),
      park ? Math.max(1, Math.floor(park.after)) : 0,
      park ? JSON.stringify({ reason: park.reason, parkedAt: at }) : "",
    ];
    const keys = [...countedScheduleKeys(), parkedKey()];
    const raw = await DEFER.run(this.redis, keys, args);
    if (!raw) return undefined;
    const reply = this.answer(raw, 2) as [number, string];
    const failures = Number(reply[0]);
    return reply[1] === "parked" ? { failures, parked: true } : { failures, retryAt: Number(reply[1]) };
  }

  async parked(): Promise<ParkedDelivery[]> {
    const all = await this.redis.hgetall(parkedKey());
    return Object.entries(all).map(([orderId, value]) => parkedOf(orderId, value));
  }

  async pageParked(cursor: string, count: number): Promise<{ parked: ParkedDelivery[]; next: string }> {
    const [next, flat] = await this.redis.hscan(parkedKey(), cursor, "COUNT", count);
    const parked: ParkedDelivery[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) parked.push(parkedOf(flat[i]!, flat[i + 1]!));
    return { parked, next };
  }

  async parkedCount(): Promise<number> {
    return this.redis.hlen(parkedKey());
  }

  async requeueParked(orderId: string, at: number): Promise<boolean> {
    const keys = [parkedKey(), ...countedScheduleKeys()];
    const [done] = this.answer(await REQUEUE.run(this.redis, keys, [orderId, Math.floor(at)]), 1);
    return done === 1;
  }

  async sweepOrphanCounts(cursor: string, count: number): Promise<{ next: string; removed: number }> {
    // One walk: the failure counts, then the unreadable counts. The cursor is "<hash>:<its HSCAN
    // cursor>"; "0" at the start and the end.
    const [hash, at] = sweepPosition(cursor);
    const raw = await SWEEP.run(this.redis, [dueKey(), SWEPT_COUNTS[hash]], [at, count]);
    const [scanned, removed] = this.answer(raw, 2) as [string, number];
    // A hash done: the next one from its start, or the walk is over.
    const next = scanned !== "0" ? `${hash}:${scanned}` : hash === 0 ? "1:0" : "0";
    return { next, removed: Number(removed) };
  }
}

/** The count hashes the orphan sweep walks, in its order. */
const SWEPT_COUNTS = [dueFailuresKey(), dueUnreadableKey()] as const;

/** A sweep cursor as the hash it is in (an index of SWEPT_COUNTS) and that hash's HSCAN cursor. */
function sweepPosition(cursor: string): [0 | 1, string] {
  const match = /^([01]):(\d+)$/.exec(cursor);
  return match ? [match[1] === "1" ? 1 : 0, match[2]!] : [0, "0"];
}

/** The due set and the two count hashes that go with its entries, in the scripts' KEYS order. */
const countedScheduleKeys = (): string[] => [dueKey(), dueFailuresKey(), dueUnreadableKey()];
