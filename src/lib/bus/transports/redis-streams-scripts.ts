/**
 * Lua scripts of the Streams transport. Each touches one stream (one key, so one hash slot) and
 * pairs the entries it hands out with their delivery count from XPENDING in the same atomic step,
 * because XREADGROUP, XCLAIM and XAUTOCLAIM do not return it and `Delivery.attempt` must be exact.
 * (Redis 6.2+: XPENDING IDLE and exclusive ranges.)
 */
import { LuaScript } from "../../redis/index.js";

const COUNTS = `
local function counts_of(key, group, entries)
  local counts = {}
  for i, e in ipairs(entries) do
    local p = redis.call('XPENDING', key, group, e[1], e[1], 1)
    counts[i] = (p[1] and p[1][4]) or 1
  end
  return counts
end
`;

/**
 * This consumer's own pending entries after `cursor` (a restarted instance resuming its work).
 * KEYS: stream. ARGV: group, consumer, count, cursor. Returns `{entries, counts}`.
 */
export const readOwnPendingScript = new LuaScript(`${COUNTS}
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], ARGV[4])
local entries = (r and r[1] and r[1][2]) or {}
return {entries, counts_of(KEYS[1], ARGV[1], entries)}
`);

/**
 * Takes over entries idle for `minIdle` ms (XPENDING IDLE + XCLAIM, what XAUTOCLAIM does), except
 * this consumer's own entries that it is still handling or holding for a retry (ARGV[6..]): its
 * claim loop must not keep refreshing them, or a hung handler would hold its entries forever.
 * KEYS: stream. ARGV: group, consumer, minIdle, cursor, count, busy ids...
 * Returns `{cursor, entries, counts, deletedIds}`; cursor "0-0" when the scan is complete.
 */
export const claimIdleScript = new LuaScript(`
local group, consumer, min_idle, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local busy = {}
for i = 6, #ARGV do busy[ARGV[i]] = true end
local scan = count * 4
local start = (ARGV[4] == '0-0') and '-' or ('(' .. ARGV[4])
local rows = redis.call('XPENDING', KEYS[1], group, 'IDLE', min_idle, start, '+', scan)
local ids, counts, cursor = {}, {}, '0-0'
for i, row in ipairs(rows) do
  if #ids >= count then cursor = rows[i - 1][1] break end
  if not (row[2] == consumer and busy[row[1]]) then
    ids[#ids + 1] = row[1]
    counts[row[1]] = row[4] + 1
  end
end
if cursor == '0-0' and #rows == scan then cursor = rows[#rows][1] end
local entries, kept, deleted = {}, {}, {}
if #ids > 0 then
  local got = {}
  for _, e in ipairs(redis.call('XCLAIM', KEYS[1], group, consumer, min_idle, unpack(ids))) do
    got[e[1]] = true
    entries[#entries + 1] = e
    kept[#kept + 1] = counts[e[1]]
  end
  for _, id in ipairs(ids) do
    if not got[id] then deleted[#deleted + 1] = id end
  end
end
return {cursor, entries, kept, deleted}
`);

/**
 * Takes one entry again for a local retry, only while it is still pending in this consumer's name:
 * if another consumer took it over meanwhile (this one looked dead), it is theirs now.
 * KEYS: stream. ARGV: group, consumer, id. Returns `{entries, counts}` or nil.
 */
export const claimOwnScript = new LuaScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not p[1] or p[1][2] ~= ARGV[2] then return false end
local r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
if not r[1] then return false end
return {r, {p[1][4] + 1}}
`);

/**
 * Trims a stream below the oldest entry some group still needs: for each group its oldest pending
 * id, or (nothing pending) the id after its last-delivered id. Never MAXLEN on a stream with groups,
 * which would delete pending entries. A stream without groups has nobody waiting on it: it keeps
 * its newest ARGV[1] entries (about; 0 keeps all), so a group created later at 0 still finds a
 * recent history. KEYS: stream. Returns the number of entries removed.
 */
export const safeTrimScript = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then
  if tonumber(ARGV[1]) > 0 then return redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[1]) end
  return 0
end
local best, best_ms, best_seq
local function consider(ms, seq)
  local m, s = tonumber(ms), tonumber(seq)
  if best == nil or m < best_ms or (m == best_ms and s < best_seq) then
    best, best_ms, best_seq = ms .. '-' .. seq, m, s
  end
end
for _, g in ipairs(groups) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['pending'] > 0 then
    local oldest = redis.call('XPENDING', KEYS[1], info['name'])[2]
    local ms, seq = string.match(oldest, '^(%d+)-(%d+)$')
    consider(ms, seq)
  else
    local ms, seq = string.match(info['last-delivered-id'], '^(%d+)-(%d+)$')
    consider(ms, string.format('%.0f', tonumber(seq) + 1))
  end
end
return redis.call('XTRIM', KEYS[1], 'MINID', best)
`);
