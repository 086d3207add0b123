/**
 * Lua scripts of the Streams transport. Each touches one stream (one key, so one hash slot) and
 * pairs the entries it hands out with their delivery count from XPENDING in the same atomic step,
 * because XREADGROUP, XCLAIM and XAUTOCLAIM do not return it and `Delivery.attempt` must be exact.
 * (Redis 6.2+: XPENDING IDLE and exclusive ranges.)
 */
import { LuaScript } from "../../redis/index.js";
import { MARK_READ } from "./redis-streams-read-marks.js";

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
 * Reading them again raises their delivery count: right after a restart (the last delivery had no
 * outcome: the process died), wrong after a reconnect of a live process, whose entries are in
 * flight or were read into a reply that was lost. With ARGV[5] = "keep" the counts are put back
 * (XCLAIM RETRYCOUNT, JUSTID), so a Redis blip never pushes healthy messages towards a crash loop.
 * KEYS: stream. ARGV: group, consumer, count, cursor, "keep"|"bump". Returns `{entries, counts}`.
 */
export const readOwnPendingScript = new LuaScript(`${COUNTS}
local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3], 'STREAMS', KEYS[1], ARGV[4])
local entries = (r and r[1] and r[1][2]) or {}
local counts = counts_of(KEYS[1], ARGV[1], entries)
if ARGV[5] == 'keep' then
  for i, e in ipairs(entries) do
    if counts[i] > 1 then
      counts[i] = counts[i] - 1
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, e[1], 'RETRYCOUNT', counts[i], 'JUSTID')
    end
  end
end
return {entries, counts}
`);

/**
 * A read of fewer new entries than streams, fair and in one round trip: up to ARGV[3] entries, at
 * most one per stream, looking at the streams in KEYS order (the caller rotates it). All KEYS are
 * one owner's streams, so one hash slot. A stream whose read fails (NOGROUP: the stream was deleted
 * and recreated, or its group destroyed) is skipped and reported, never the whole reply lost: the
 * entries already read are pending in this consumer's name, and a lost reply stranded them until
 * the idle claim (break-late F1). Each stream read raises the group's read-to mark in the same step
 * (redis-streams-read-marks.ts). KEYS: the n streams, then their n read-to marks in the same order.
 * ARGV: group, consumer, count, mark ttl ms.
 * Returns `{read, failed}`: read in XREADGROUP's reply shape, `{{stream, {entry}}...}`; failed a
 * flat `{stream, error message, ...}`.
 */
export const readFewScript = new LuaScript(`${MARK_READ}
local out, failed, wanted, streams = {}, {}, tonumber(ARGV[3]), #KEYS / 2
for i = 1, streams do
  if #out >= wanted then break end
  local key = KEYS[i]
  local r = redis.pcall('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1, 'STREAMS', key, '>')
  if type(r) == 'table' and r.err then
    failed[#failed + 1] = key
    failed[#failed + 1] = r.err
  elseif r and r[1] then
    out[#out + 1] = r[1]
    mark_read(key, KEYS[i + streams], r[1][2][1][1], ARGV[4])
  end
end
return {out, failed}
`);

/**
 * Renews the lease on entries this consumer is still handling or holding: XCLAIM ... JUSTID with
 * min-idle 0 resets their idle time without raising the delivery count. Only entries still pending
 * in this consumer's name are touched: XCLAIM with min-idle 0 would otherwise take an entry another
 * consumer took over meanwhile (and XACK does not check the owner either).
 * KEYS: stream. ARGV: group, consumer, ids... Returns the ids that are no longer this consumer's.
 */
export const renewLeaseScript = new LuaScript(`
local group, consumer = ARGV[1], ARGV[2]
local mine, lost = {}, {}
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == consumer then mine[#mine + 1] = ARGV[i] else lost[#lost + 1] = ARGV[i] end
end
if #mine > 0 then
  mine[#mine + 1] = 'JUSTID'
  redis.call('XCLAIM', KEYS[1], group, consumer, 0, unpack(mine))
end
return lost
`);

/**
 * Removes from the group the consumers that own no pending entry and have not been seen for
 * ARGV[2] ms (instances that are gone), never ARGV[3] (the caller). Atomic, so a consumer cannot
 * read an entry between the check and the removal (DELCONSUMER drops a consumer's pending entries).
 * KEYS: stream. ARGV: group, minIdleMs, self. Returns the removed names.
 */
export const removeDeadConsumersScript = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return {} end
local removed = {}
for _, c in ipairs(consumers) do
  local info = {}
  for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
  if info['pending'] == 0 and info['idle'] >= tonumber(ARGV[2]) and info['name'] ~= ARGV[3] then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed[#removed + 1] = info['name']
  end
end
return removed
`);

/**
 * Takes over entries idle for `minIdle` ms (XPENDING IDLE + XCLAIM, what XAUTOCLAIM does), except
 * entries this consumer is still handling or holding (ARGV[6..]), whoever owns them now: claiming
 * them would only raise their delivery count without running them (and a hung handler's own claim
 * loop would hold its entries forever).
 * Claims nothing while Redis itself has been up for less than minIdle: idle times restored from
 * the AOF after a restart include the outage, so live owners must first get a full takeover time
 * to reconnect and renew their leases (uptime is in whole seconds, rounded down: never too early).
 * Uptime is asked (INFO server, the costliest command of an idle round) only when XPENDING found
 * idle entries: almost every round, on every stream of every service, finds none.
 * Claims nothing either when the call ran `minIdle / 2` ms or more after `issuedAt` (ARGV[6], ms
 * on the Redis clock as the sender estimated it; "0": no check): it waited in a paused (CLIENT
 * PAUSE), blocked or slow Redis, whose stall left every live owner's entries idle too, and the
 * owners' renewals, queued behind the same stall, have not run yet (break20 F3). Returns a 5th
 * element, 1, then: the caller holds its claims for a takeover time.
 * KEYS: stream. ARGV: group, consumer, minIdle, cursor, count, issuedAt, busy ids...
 * Returns `{cursor, entries, counts, deletedIds[, stale]}`; cursor "0-0" when the scan is complete.
 */
export const claimIdleScript = new LuaScript(`
local group, consumer, min_idle, count = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[5])
local issued = tonumber(ARGV[6] or '0') or 0
if issued > 0 then
  local t = redis.call('TIME')
  if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - issued >= tonumber(min_idle) / 2 then
    return {'0-0', {}, {}, {}, 1}
  end
end
local scan = count * 4
local start = (ARGV[4] == '0-0') and '-' or ('(' .. ARGV[4])
local rows = redis.call('XPENDING', KEYS[1], group, 'IDLE', min_idle, start, '+', scan)
if #rows == 0 then return {'0-0', {}, {}, {}} end
local uptime = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)'))
if uptime and uptime * 1000 < tonumber(min_idle) then return {'0-0', {}, {}, {}} end
local busy = {}
for i = 7, #ARGV do busy[ARGV[i]] = true end
local ids, counts, cursor = {}, {}, '0-0'
for i, row in ipairs(rows) do
  if #ids >= count then cursor = rows[i - 1][1] break end
  if not busy[row[1]] then
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
 * if another consumer took it over meanwhile (this one looked dead), it is theirs now; if it is not
 * pending at all (acked by the consumer it was taken from), its record keys are deleted.
 * KEYS: stream, then the entry's record keys (optional). ARGV: group, consumer, id. Returns
 * `{entries, counts}` or nil.
 */
export const claimOwnScript = new LuaScript(`
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
if not p[1] then
  if #KEYS > 1 then redis.call('DEL', unpack(KEYS, 2)) end
  return false
end
if p[1][2] ~= ARGV[2] then return false end
local r = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3])
if not r[1] then return false end
return {r, {p[1][4] + 1}}
`);

/**
 * Lua fragment shared by the trim scripts: given `groups` (XINFO GROUPS of KEYS[1], not empty), cut the
 * stream below the oldest entry any group still needs (its oldest pending entry, or the one after
 * its last-delivered id) with XTRIM MINID, and return how many entries went.
 */
export const TRIM_BELOW_EVERY_GROUP = `
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
`;

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
${TRIM_BELOW_EVERY_GROUP}`);

/**
 * Undoes one counted solo run of a crash suspect (redis-streams-isolation.ts): decrements the
 * count keeping its TTL, never below 0, and never re-creates a key an outcome deleted meanwhile
 * (a plain DECR would leave -1, without a TTL). KEYS: the solo-runs key, the undone-runs key.
 * ARGV: "1" when others started beside the run (then the undone-runs count is raised, with the TTL
 * ARGV[2] ms: its next solo run holds longer), else "0" (it ended with an outcome). GET, SET,
 * INCR, PEXPIRE. Returns the count left.
 */
export const uncountSoloRunScript = new LuaScript(`
local n = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if n <= 0 then return 0 end
redis.call('SET', KEYS[1], n - 1, 'KEEPTTL')
if ARGV[1] == '1' then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
end
return n - 1
`);

/**
 * Records one run of an entry given up as hung (hungRunsKey, break26 F2): its hung-run count + 1,
 * and the silent deliveries its hangs explain, the larger of the kept one and ARGV[1]; or, with
 * ARGV[5] "0", a run found alive after its lease was lost (a stall of its process, not a hang:
 * Dispatcher.recordStall), which raises only the explained count. Nothing when the entry is no
 * longer pending in the group (another instance took it over and acked it while this one was
 * frozen: the record would outlive the entry by its TTL, break27 F2). KEYS: the hung-runs key, the
 * stream. ARGV: explained, TTL (ms), group, entry id, and "0" for a stall (absent or "1": a hang).
 * XPENDING, GET, SET. Returns the hung-run count, or for a stall the explained count (0: not
 * pending, nothing written).
 */
export const hungRunScript = new LuaScript(`
if #redis.call('XPENDING', KEYS[2], ARGV[3], ARGV[4], ARGV[4], 1) == 0 then return 0 end
local runs, explained = 0, 0
local v = redis.call('GET', KEYS[1])
if v then
  local a, b = string.match(v, '^(%d+) (%d+)$')
  runs, explained = tonumber(a) or 0, tonumber(b) or 0
end
local stall = ARGV[5] == '0'
if not stall then runs = runs + 1 end
explained = math.max(explained, tonumber(ARGV[1]) or 0)
redis.call('SET', KEYS[1], runs .. ' ' .. explained, 'PX', ARGV[2])
if stall then return explained end
return runs
`);
