import type { Redis } from "ioredis";
import { z } from "zod";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { OUTBOX_LUA, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import type { ShipmentRecord, ShipmentStatus } from "./domain.js";
import { dueFailuresKey, dueKey, shipmentKey } from "./keys.js";
import {
  assertOwnEvents,
  type DeferredDelivery,
  type RetryBackoff,
  type ScheduleChange,
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

// KEYS: record, due set, failure counts, then one stream per message. ARGV: expected status ('' =
// none), new status, record JSON, schedule op ('rem' | ''), order id, then bodies. Only SCHEDULE
// adds to the due set; a failure count leaves with its entry.
const COMMIT = new LuaScript(`${OUTBOX_LUA}
local current = redis.call('HGET', KEYS[1], 'status') or ''
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'data', ARGV[3])
if ARGV[4] == 'rem' then redis.call('ZREM', KEYS[2], ARGV[5]) end
outbox(4, 6)
-- Last: a script's writes are not undone when a later command fails (a Redis user without HDEL,
-- e.g. the previous release's ACL), and a count left behind is harmless where a status written
-- without its event is not (break-late7 F4).
if ARGV[4] == 'rem' then redis.call('HDEL', KEYS[3], ARGV[5]) end
return 1
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
redis.call('HSET', KEYS[1], 'data', data .. '}')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 'scheduled'
`);

// KEYS: due set, record, failure counts, then one stream per message. ARGV: order id, record
// JSON, then bodies. ZREM succeeds for exactly one caller, so two pollers never deliver one
// shipment twice.
const CLAIM = new LuaScript(`${OUTBOX_LUA}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], 'status') ~= 'prepared' then
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[2], 'status', 'delivered', 'data', ARGV[2])
outbox(4, 3)
-- Last, as in COMMIT: failing earlier (no HDEL for this user) it left the shipment off the schedule
-- and never delivered (break-late7 F4).
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
`);

// KEYS: due set, failure counts. ARGV: order id.
const DROP = new LuaScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
`);

// Mirrors MemoryShippingStore.deferDue and retryDelayMs (store.ts); the store contract keeps them in
// step. KEYS: due set, failure counts. ARGV: order id, now, baseMs, maxMs (integer ms). Only an
// entry still due at now moves: a poller that failed it after another one moved it (or after
// a claim took it) changes nothing, so one failure counts once and nothing is put back. The score
// is written as an integer string (a Lua number would be formatted with 14 significant digits).
// → {failures, retryAt}, or nil.
const DEFER = new LuaScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local now = tonumber(ARGV[2])
if not score or tonumber(score) > now then return nil end
local failures = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
local delay = tonumber(ARGV[3]) * 2 ^ math.min(math.max(failures - 1, 0), 52)
if delay > tonumber(ARGV[4]) then delay = tonumber(ARGV[4]) end
local at = string.format('%.0f', now + delay)
redis.call('ZADD', KEYS[1], 'XX', at, ARGV[1])
return {failures, at}
`);

export class RedisShippingStore implements ShippingStore {
  constructor(private readonly redis: Redis) {}

  async get(orderId: string): Promise<ShipmentRecord | undefined> {
    const data = await this.redis.hget(shipmentKey(orderId), "data");
    return data === null ? undefined : ShipmentRecordSchema.parse(JSON.parse(data));
  }

  async commit(
    record: ShipmentRecord,
    expected: ShipmentStatus | null,
    messages: readonly OutgoingMessage[],
    schedule?: ScheduleChange,
  ): Promise<boolean> {
    assertOwnEvents(messages);
    const op = schedule === "unschedule" ? "rem" : "";
    const outbox = outboxArgs(messages);
    const keys = [shipmentKey(record.orderId), dueKey(), dueFailuresKey(), ...outbox.keys];
    const args = [expected ?? "", record.status, JSON.stringify(record), op, record.orderId];
    return (await COMMIT.run(this.redis, keys, [...args, ...outbox.bodies])) === 1;
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
    const keys = [dueKey(), shipmentKey(record.orderId), dueFailuresKey(), ...outbox.keys];
    const args = [record.orderId, JSON.stringify(record), ...outbox.bodies];
    return (await CLAIM.run(this.redis, keys, args)) === 1;
  }

  async dropDue(orderId: string): Promise<void> {
    await DROP.run(this.redis, [dueKey(), dueFailuresKey()], [orderId]);
  }

  async deferDue(orderId: string, now: number, backoff: RetryBackoff): Promise<DeferredDelivery | undefined> {
    const args = [orderId, Math.floor(now), Math.floor(backoff.baseMs), Math.floor(backoff.maxMs)];
    const reply = (await DEFER.run(this.redis, [dueKey(), dueFailuresKey()], args)) as
      [number, string] | null;
    return reply ? { failures: Number(reply[0]), retryAt: Number(reply[1]) } : undefined;
  }
}
