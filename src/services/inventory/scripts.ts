/**
 * The inventory's Lua scripts. Each writes a state change and its events (XADD to the inventory's
 * own streams) in one atomic step. Key layout: the keys a script changes, then one stream key per
 * outgoing message; the last ARGV are the bodies of those messages (`outbox(k0, a0)`, see OUTBOX_LUA).
 */
import { OUTBOX_LUA } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/lua-script.js";
import { DEADLINE_LUA } from "../../lib/redis/write-deadline.js";

/**
 * KEYS: product, index, streams. ARGV: id, name, price, quantity, threshold, deadline (epoch ms, ''
 * for none: `DEADLINE_LUA`), messages. → 1 | 0 (exists) | 'late:<ms>' (Redis `TIME` past the
 * deadline: nothing written).
 */
export const ADD_PRODUCT = new LuaScript(`${OUTBOX_LUA}${DEADLINE_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local late = past_deadline(ARGV[6])
if late then return 'late:' .. string.format('%d', late) end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(3)
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'price', ARGV[3], 'available', ARGV[4],
  'reserved', 0, 'committed', 0, 'threshold', ARGV[5])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
outbox(3, 7)
return 1
`);

/**
 * The restock limit, checked on the live stock in the same script that adds it (a check on a
 * snapshot let concurrent restocks pass the limit together). `restock_check(product, quantity,
 * seen, max)` → nil (go ahead) | 'missing' | 'over_limit:<room>' (available + reserved + quantity
 * would pass `max`; committed units are sold and do not count; room = what still fits, at least 0) | 'conflict' (available is not
 * `seen`, the level the events were built from: build them again). The limit is decided before the
 * conflict, so a refused restock is refused at once, never retried.
 */
const RESTOCK_CHECK_LUA = `
local function restock_check(product, quantity, seen, max)
  local v = redis.call('HMGET', product, 'available', 'reserved')
  if not v[1] then return 'missing' end
  local total = tonumber(v[1]) + (tonumber(v[2]) or 0)
  if total + tonumber(quantity) > tonumber(max) then
    return 'over_limit:' .. string.format('%d', math.max(0, tonumber(max) - total))
  end
  if v[1] ~= seen then return 'conflict' end
  return nil
end
`;

/**
 * KEYS: product, streams. ARGV: quantity, available the events were built from, largest stock on
 * hand (MAX_STOCK_LEVEL), deadline (epoch ms, '' for none: `DEADLINE_LUA`), messages.
 * → 'ok' | 'missing' | 'over_limit:<room>' | 'conflict' (available moved: build the events again)
 * | 'late:<ms>' (Redis `TIME` past the deadline: nothing written; fixdl, a late unkeyed restock
 * counted the stock twice after the client's check and resend).
 */
export const RESTOCK = new LuaScript(`${OUTBOX_LUA}${RESTOCK_CHECK_LUA}${DEADLINE_LUA}
local refused = restock_check(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
if refused then return refused end
local late = past_deadline(ARGV[4])
if late then return 'late:' .. string.format('%d', late) end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(2)
redis.call('HINCRBY', KEYS[1], 'available', ARGV[1])
outbox(2, 5)
return 'ok'
`);

/**
 * RESTOCK at most once per Idempotency-Key, and one answer per key: the key's record is written in
 * the same step as the decision, whatever it is, so a retry or a late copy (a resend's frozen first
 * attempt, break10 F1) finds it whatever instance answered the first time and replays that answer.
 * The record is the request hash alone for an applied restock (the format older instances wrote),
 * `<hash>:missing` or `<hash>:over_limit:<room>` for a refused one (the hash is hex: the first `:`
 * ends it). A replay is answered before the limit is checked (it changes nothing). Only 'conflict'
 * (a retry of this script, not an answer) records nothing.
 * KEYS: product, idempotency record, streams. ARGV: quantity, available the events were built
 * from, request hash, record lifetime (ms), largest stock on hand (MAX_STOCK_LEVEL), deadline
 * (epoch ms, '' for none), messages.
 * → 'ok' | 'replayed' (same key, same request, applied before: nothing done) | 'replayed:missing'
 * | 'replayed:over_limit:<room>' (refused before: the same refusal) | 'reused' (same key, another
 * request) | 'missing' | 'over_limit:<room>' | 'conflict' | 'late:<ms>' (past the deadline by Redis
 * `TIME`, checked after the replay, which writes nothing, and before any write: no record either).
 */
export const RESTOCK_ONCE = new LuaScript(`${OUTBOX_LUA}${RESTOCK_CHECK_LUA}${DEADLINE_LUA}
local prior = redis.call('GET', KEYS[2])
if prior then
  local sep = string.find(prior, ':', 1, true)
  if not sep then
    if prior == ARGV[3] then return 'replayed' end
    return 'reused'
  end
  if string.sub(prior, 1, sep - 1) ~= ARGV[3] then return 'reused' end
  return 'replayed:' .. string.sub(prior, sep + 1)
end
local refused = restock_check(KEYS[1], ARGV[1], ARGV[2], ARGV[5])
if refused == 'conflict' then return refused end
local late = past_deadline(ARGV[6])
if late then return 'late:' .. string.format('%d', late) end
if refused then
  redis.call('SET', KEYS[2], ARGV[3] .. ':' .. refused, 'PX', ARGV[4])
  return refused
end
-- The streams checked before the first write (README step 2's rule; newuser17 F1): a failing XADD
-- after them would leave the stock and the key's record without the event.
outbox_check(3)
redis.call('HINCRBY', KEYS[1], 'available', ARGV[1])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
outbox(3, 7)
return 'ok'
`);

/**
 * KEYS: reservation, n products, streams. ARGV: n, expected signature, items JSON, failure reason,
 * n quantities, lifetime (ms) of a failed reservation (only a dedupe mark), messages. Computes the
 * outcome signature exactly like \`reservationSignature\` in domain.ts; applies only when it equals
 * the expected one. 'T' (total too large) is taken from the handler when no line is unknown or
 * short: it depends on prices only, which never change. A reservation also applies only when each
 * item's \`unitPrice\` is its product's price, so a handler may guess from prices it saw earlier.
 * → 'applied' | 'duplicate:<state>' | 'conflict:<signature>' | 'conflict:price'.
 */
export const RESERVE = new LuaScript(`${OUTBOX_LUA}
local state = redis.call('HGET', KEYS[1], 'state')
if state then return 'duplicate:' .. state end
local n = tonumber(ARGV[1])
local unknown, short, low, prices = {}, {}, {}, {}
for i = 1, n do
  -- One read of each product: its stock and threshold, and its price for the check below.
  local v = redis.call('HMGET', KEYS[1 + i], 'available', 'threshold', 'price')
  prices[i] = tonumber(v[3])
  local q = tonumber(ARGV[4 + i])
  if not v[1] then
    unknown[#unknown + 1] = ':' .. i
  else
    local a, t = tonumber(v[1]), tonumber(v[2])
    if a < q then
      short[#short + 1] = ':' .. i .. '=' .. v[1]
    elseif a > t and a - q <= t then
      low[#low + 1] = ':' .. i .. '=' .. string.format('%d', a - q)
    end
  end
end
local sig
if #unknown > 0 then sig = 'U' .. table.concat(unknown)
elseif #short > 0 then sig = 'S' .. table.concat(short)
elseif ARGV[2] == 'T' then sig = 'T'
else sig = 'R' .. table.concat(low) end
if sig ~= ARGV[2] then return 'conflict:' .. sig end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(2 + n)
if sig:sub(1, 1) == 'R' then
  local items = cjson.decode(ARGV[3])
  for i = 1, n do
    if prices[i] ~= items[i].unitPrice then return 'conflict:price' end
  end
  for i = 1, n do
    redis.call('HINCRBY', KEYS[1 + i], 'available', '-' .. ARGV[4 + i])
    redis.call('HINCRBY', KEYS[1 + i], 'reserved', ARGV[4 + i])
  end
  redis.call('HSET', KEYS[1], 'state', 'reserved', 'items', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'state', 'failed', 'items', '[]', 'reason', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5 + n])
end
outbox(2 + n, 6 + n)
return 'applied'
`);

/**
 * Release (reserved → available) or commit (reserved → committed). A settled reservation holds no
 * stock any more, only the order's dedupe mark: it expires after the given lifetime.
 * KEYS: reservation, n products, streams. ARGV: 'released' | 'committed', state the handler saw
 * ('reserved' | 'none'), n, n quantities, lifetime ms of the settled mark, the reservation's items
 * JSON as the handler knows it ('' when it read them just now: no check), messages.
 * → 'done' | 'tombstone' | 'noop:<state>' | 'conflict' (state changed since it was read, or the
 * items are not the ones given).
 */
export const SETTLE = new LuaScript(`${OUTBOX_LUA}
local r = redis.call('HMGET', KEYS[1], 'state', 'items')
local state = r[1]
if not state then
  if ARGV[2] ~= 'none' then return 'conflict' end
  if ARGV[1] ~= 'released' then return 'noop:none' end
  redis.call('HSET', KEYS[1], 'state', 'released', 'items', '[]')
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 'tombstone'
end
if state ~= 'reserved' then return 'noop:' .. state end
if ARGV[2] ~= 'reserved' then return 'conflict' end
local n = tonumber(ARGV[3])
if ARGV[5 + n] ~= '' and r[2] ~= ARGV[5 + n] then return 'conflict' end
local target = 'committed'
if ARGV[1] == 'released' then target = 'available' end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(2 + n)
for i = 1, n do
  redis.call('HINCRBY', KEYS[1 + i], 'reserved', '-' .. ARGV[3 + i])
  redis.call('HINCRBY', KEYS[1 + i], target, ARGV[3 + i])
end
redis.call('HSET', KEYS[1], 'state', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4 + n])
outbox(2 + n, 6 + n)
return 'done'
`);

/**
 * Moves about ARGV[1] ids from the earlier plain-set index into the sorted index, in one atomic
 * step: they leave the set (SREM) as they enter the index (ZADD), so two instances moving at once
 * never drop an id, and an id an older instance adds to the set meanwhile is moved by a later call
 * (nothing is UNLINKed; SREM of the last member removes the key). KEYS: legacy set, sorted index.
 * → ids left in the set (0: done; a missing set is 0 at once, O(1)).
 */
export const MOVE_LEGACY_INDEX = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local ids, cursor = {}, '0'
repeat
  local reply = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', ARGV[1])
  cursor = reply[1]
  for _, id in ipairs(reply[2]) do ids[#ids + 1] = id end
until cursor == '0' or #ids >= tonumber(ARGV[1])
for i = 1, #ids, 500 do
  local args, members = {}, {}
  for j = i, math.min(i + 499, #ids) do
    args[#args + 1] = 0
    args[#args + 1] = ids[j]
    members[#members + 1] = ids[j]
  end
  redis.call('ZADD', KEYS[2], unpack(args))
  redis.call('SREM', KEYS[1], unpack(members))
end
return redis.call('SCARD', KEYS[1])
`);
