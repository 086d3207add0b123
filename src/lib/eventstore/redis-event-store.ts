import type { Redis } from "ioredis";
import { eventStreamFields, eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { AppendDeadlineError, ConcurrencyError, EventStoreError, InvalidAppendError } from "./errors.js";
import { INLINE_COMMANDS, type InlineRedisWrite } from "./inline-projection.js";
import {
  type AppendOptions,
  type AppendResult,
  type EventStore,
  type NewEvent,
  parsePosition,
  type ReadAllOptions,
  type ReadOptions,
  readAllLimit,
  readRange,
  recordedBy,
  newAppendId,
  type StoredEvent,
  validateAppend,
} from "./event-store.js";
import { allEventsKey, checkTag, positionKey, streamKey } from "./keys.js";
import { LuaScript } from "../redis/index.js";
import { DEADLINE_LUA } from "../redis/write-deadline.js";

/**
 * KEYS: stream list, global log, position counter, one event stream per outbox message, then one
 * key per inline write.
 * ARGV: expected kind ("any" | "no_stream" | "exact" | "exact_last"), expected version, event count n, outbox
 * count m, n event bodies (JSON objects without version and position), field and value of each
 * outbox message, inline write count w (always given), then per write: command, argument count, and per argument
 * "s" + value, or "p" + before + event index (1-based) + after (the event's global position goes
 * between them: a view record's `position`); with "exact_last", four more: the global position,
 * type, recordedAt and appendId of the event expected at the expected version ("" to skip one), each
 * equal to that field of the stored one (decoded: a substring search of its JSON matched look-alikes
 * in its data or metadata; an event stored without an appendId has none to equal) or the append is
 * refused (`AppendOptions.expectedLast`). The event bodies carry the append's id (`appendId`, made
 * by the caller: random, so unlike the position counter nothing a rollback of Redis hands out again).
 * Last of all ARGV, always: the deadline `applyBy` in epoch ms ("" for none): past it by Redis
 * `TIME` (read after the version checks, before any write) the script writes nothing and returns
 * {'late', now ms} (break35 F1; `TIME` before writes is allowed since scripts replicate effects).
 * A refusal of an exact expected version below the stream's returns the events after it (the
 * caller's catch-up, `ConcurrencyError.missed`), read in the same step; with "exact_last", only if
 * the event at the expected version is the one expected (else the writer's history is not the
 * stream's: lost writes, then another writer's appends; break31 F1).
 * The n events take n consecutive global positions (one INCRBY); the global log gets one entry per
 * append, not a copy of each event: entry id `<first position>-0`, fields `k` (the stream's key),
 * `v` (the first event's version), `n` (the count). `readAll` reads the events from the streams.
 * The stored JSON is built by string splicing, not cjson, so event data round-trips byte for byte
 * (cjson would turn `[]` into `{}`). The inline writes run after the version check, in the same
 * script: the views change with the events or not at all. Every command (the appends, the outbox's
 * XADDs, the inline writes) is checked against the Redis user's permissions before the first write
 * (`redis.acl_check_cmd`): one it may not run fails the append with nothing written.
 */
const APPEND = new LuaScript(`${DEADLINE_LUA}
local actual = redis.call('LLEN', KEYS[1])
local kind = ARGV[1]
local expected = tonumber(ARGV[2])
local exact = kind == 'exact' or kind == 'exact_last'
local function marked(index)
  local event = cjson.decode(redis.call('LINDEX', KEYS[1], index))
  local marks = {event.globalPosition, event.type, event.recordedAt, event.appendId}
  for i = 1, 4 do
    local want = ARGV[#ARGV - 5 + i]
    if want ~= '' and marks[i] ~= want then return false end
  end
  return true
end
if (kind == 'no_stream' and actual ~= 0) or (exact and actual ~= expected) then
  if exact and actual > expected then
    -- The writer's last event gone (lost writes, then others' appends): what follows is not its catch-up.
    if kind == 'exact_last' and expected > 0 and not marked(expected - 1) then return {'conflict', actual} end
    return {'conflict', actual, redis.call('LRANGE', KEYS[1], expected, -1)}
  end
  return {'conflict', actual}
end
if kind == 'exact_last' and actual > 0 and not marked(actual - 1) then return {'conflict', actual} end
local late = past_deadline(ARGV[#ARGV])
if late then return {'late', late} end
local n = tonumber(ARGV[3])
local m = tonumber(ARGV[4])
-- Every command checked before the first write (newuser17 F1): Redis keeps a script's earlier writes
-- when a later command fails (NOPERM for a command the user lacks), so a refusal must come first.
local function allowed(...)
  if not redis.acl_check_cmd(...) then
    error({ err = 'NOPERM this Redis user may not run ' .. string.upper((...)) .. ' on these keys (nothing was written)' })
  end
end
-- The inline writes, parsed once: checked with the rest before the first write, run after the
-- appends with each 'p' argument's global position filled in (prefix .. position .. suffix).
local writes = {}
do
  local a = 5 + n + 2 * m
  local w = tonumber(ARGV[a] or '0')
  a = a + 1
  for k = 1, w do
    local call = {ARGV[a], KEYS[3 + m + k]}
    local placed = {}
    local argc = tonumber(ARGV[a + 1])
    a = a + 2
    for x = 1, argc do
      if ARGV[a] == 'p' then
        call[x + 2] = '0'
        placed[#placed + 1] = {x + 2, ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3]}
        a = a + 4
      else
        call[x + 2] = ARGV[a + 1]
        a = a + 2
      end
    end
    writes[k] = {call, placed}
  end
end
allowed('INCRBY', KEYS[3], '1')
allowed('RPUSH', KEYS[1], 'x')
allowed('XADD', KEYS[2], '1-0', 'k', 'x')
for j = 1, m do allowed('XADD', KEYS[3 + j], '*', 'f', 'x') end
for k = 1, #writes do allowed(unpack(writes[k][1])) end
local first = redis.call('INCRBY', KEYS[3], n) - n + 1
local positions = {}
for i = 1, n do
  local position = string.format('%016d', first + i - 1)
  local head = string.format('{"version":%d,"globalPosition":"%s",', actual + i, position)
  redis.call('RPUSH', KEYS[1], head .. string.sub(ARGV[4 + i], 2))
  positions[i] = position
end
redis.call('XADD', KEYS[2], string.format('%d-0', first), 'k', KEYS[1], 'v', actual + 1, 'n', n)
for j = 1, m do
  local arg = 4 + n + 2 * (j - 1)
  redis.call('XADD', KEYS[3 + j], '*', ARGV[arg + 1], ARGV[arg + 2])
end
for k = 1, #writes do
  local call, placed = writes[k][1], writes[k][2]
  for _, p in ipairs(placed) do call[p[1]] = p[2] .. positions[p[3]] .. p[4] end
  redis.call(unpack(call))
end
return {'ok', actual + n, positions}
`);

/**
 * KEYS: the global log. ARGV: position to read after (0: from the start), limit.
 * The stored events with global positions after ARGV[1], oldest first, at most ARGV[2]: from the
 * entry holding that position on (XREVRANGE finds it), each append entry's events read from its
 * stream (LRANGE of the entry's versions). An entry with an `e` field is one event stored whole
 * (the log's format before appends were logged by reference): returned as it is.
 * The streams' keys come from the entries (all in the log's slot), not from KEYS.
 */
const READ_ALL = new LuaScript(`
local after = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local out = {}
local start = '-'
if after > 0 then
  local holder = redis.call('XREVRANGE', KEYS[1], string.format('%d-0', after), '-', 'COUNT', 1)
  if holder[1] then start = holder[1][1] end
end
while #out < limit do
  local entries = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 100)
  if #entries == 0 then break end
  for _, entry in ipairs(entries) do
    local first = tonumber(string.match(entry[1], '^(%d+)'))
    local f = {}
    for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
    if f.e then
      if first > after then out[#out + 1] = f.e end
    else
      local v = tonumber(f.v)
      local skip = math.max(0, after - first + 1)
      local take = math.min(tonumber(f.n) - skip, limit - #out)
      if take > 0 then
        local bodies = redis.call('LRANGE', f.k, v - 1 + skip, v - 2 + skip + take)
        for _, body in ipairs(bodies) do out[#out + 1] = body end
      end
    end
    if #out >= limit then break end
  end
  start = '(' .. entries[#entries][1]
end
return out
`);

export interface RedisEventStoreOptions {
  redis: Redis;
  /**
   * Hash tag of every key (`{tag}:es:...`), normally the owning service. Outbox messages must be
   * owned by it: their streams `{owner}:ev:<event>` must share the slot to be written atomically.
   */
  tag: string;
  /** Clock for `recordedAt`, passed into the script so tests control it. */
  now?: () => number;
}

/**
 * Event store on Redis. A stream is a list (version = length); the global log is a Redis Stream
 * with one entry per append, naming the stream, versions and first global position of its events
 * (the events themselves are stored once, in their stream). One Lua script checks the version,
 * writes the events, the log entry, the outbox and the inline views, so a crash leaves all of it
 * or none of it.
 */
export class RedisEventStore implements EventStore {
  readonly tag: string;
  private readonly redis: Redis;
  private readonly now: () => number;

  constructor(options: RedisEventStoreOptions) {
    this.tag = checkTag(options.tag);
    this.redis = options.redis;
    this.now = options.now ?? Date.now;
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions): Promise<AppendResult> {
    const encoded = validateAppend(this.tag, streamId, events, options);
    const outbox = options.outbox ?? [];
    const recordedAt = new Date(options.recordedAt ?? this.now()).toISOString();
    const appendId = newAppendId();
    const bodies = events.map((event, i) => {
      const head = JSON.stringify({
        streamId,
        type: event.type,
        metadata: { ...event.metadata },
        recordedAt,
        appendId,
      });
      return `${head.slice(0, -1)},"data":${encoded[i]}}`;
    });
    const expected = options.expectedVersion;
    const last = options.expectedLast;
    const kind = typeof expected !== "number" ? expected : last && expected > 0 ? "exact_last" : "exact";
    const keys = [
      streamKey(this.tag, streamId),
      allEventsKey(this.tag),
      positionKey(this.tag),
      ...outbox.map((m) => eventStreamKey(m.owner, m.topic)),
    ];
    const args = [kind, typeof expected === "number" ? expected : 0, events.length, outbox.length, ...bodies];
    for (const message of outbox) args.push(...eventStreamFields(message));
    if (!options.inline || options.inline.length === 0)
      args.push(0); // no inline writes
    else {
      const version = typeof expected === "number" ? expected : 0;
      const appended = events.map<StoredEvent>((event, i) => ({
        streamId,
        version: version + i + 1,
        // Assigned by the script: inline projections must not read it (inline-projection.ts).
        globalPosition: "",
        type: event.type,
        data: JSON.parse(encoded[i] ?? "null") as StoredEvent["data"],
        metadata: { ...event.metadata },
        recordedAt,
        appendId,
      }));
      const writes = options.inline.flatMap((update) => update.redisWrites(appended));
      args.push(writes.length);
      for (const write of writes) {
        checkInlineWrite(this.tag, write, events.length);
        keys.push(write.key);
        args.push(write.command, write.args.length);
        for (const arg of write.args) {
          if (typeof arg === "string") args.push("s", arg);
          else args.push("p", arg.before, arg.event + 1, arg.after);
        }
      }
    }
    if (kind === "exact_last" && last) {
      args.push(last.globalPosition ?? "", last.type, last.recordedAt ?? "", last.appendId ?? "");
    }
    args.push(options.applyBy === undefined ? "" : Math.floor(options.applyBy));
    const reply = await APPEND.run(this.redis, keys, args);
    return this.appendResult(streamId, expected, reply, appendId, options.applyBy);
  }

  private appendResult(
    streamId: string,
    expected: AppendOptions["expectedVersion"],
    reply: unknown,
    appendId: string,
    applyBy: number | undefined,
  ): AppendResult {
    if (!Array.isArray(reply)) throw new EventStoreError("UNEXPECTED_REPLY", "append script reply");
    const [status, version, rest] = reply as [string, number, string[] | undefined];
    if (status === "late") throw new AppendDeadlineError(streamId, applyBy ?? 0, version);
    if (status === "conflict")
      throw new ConcurrencyError(streamId, expected, version, rest?.map(decodeEvent));
    return { nextVersion: version, positions: rest ?? [], appendId };
  }

  async read(streamId: string, options: ReadOptions = {}): Promise<StoredEvent[]> {
    const { from, to } = readRange(options);
    if (to !== undefined && to < from) return [];
    const raw = await this.redis.lrange(
      streamKey(this.tag, streamId),
      from - 1,
      to === undefined ? -1 : to - 1,
    );
    return recordedBy(raw.map(decodeEvent), options.asOf);
  }

  async version(streamId: string): Promise<number> {
    return this.redis.llen(streamKey(this.tag, streamId));
  }

  async readAll(options: ReadAllOptions = {}): Promise<StoredEvent[]> {
    const after = parsePosition(options.after);
    const limit = readAllLimit(options);
    const bodies = (await READ_ALL.run(this.redis, [allEventsKey(this.tag)], [after, limit])) as string[];
    return bodies.map(decodeEvent);
  }
}

/** Refuses, before anything is written, a write the script must not run. */
function checkInlineWrite(tag: string, write: InlineRedisWrite, events: number): void {
  if (!(INLINE_COMMANDS as readonly string[]).includes(write.command)) {
    throw new InvalidAppendError(`inline write ${write.command} is not one of ${INLINE_COMMANDS.join(", ")}`);
  }
  if (!write.key.startsWith(`{${tag}}`)) {
    throw new InvalidAppendError(`inline write to "${write.key}" is outside the store's slot {${tag}}`);
  }
  for (const arg of write.args) {
    if (
      typeof arg !== "string" &&
      !(Number.isSafeInteger(arg.event) && arg.event >= 0 && arg.event < events)
    ) {
      throw new InvalidAppendError(`inline write to "${write.key}" names event ${arg.event} of ${events}`);
    }
  }
}

function decodeEvent(json: string): StoredEvent {
  return JSON.parse(json) as StoredEvent;
}
