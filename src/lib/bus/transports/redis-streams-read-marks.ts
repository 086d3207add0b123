/**
 * Read-to marks (break21 N3): per stream and group, the last entry id any instance's `>` read
 * handed out (readToKey), kept outside the group so that it survives `XGROUP DESTROY`. A group found
 * missing (NOGROUP) is recreated after max(the mark, the finder's own last read), so a second
 * instance, whose next read simply succeeds on the recreated group, is not handed again what it (or
 * the first) already read. The read-few script writes the mark in the same call as its XREADGROUP;
 * a blocking read (XREADGROUP BLOCK cannot run in a script) has its marks sent by a ReadMarkPacer,
 * at most once per interval (1 s): a script call after every read doubled Redis time per message
 * at one entry per read (issue 14).
 */
import type { Redis } from "ioredis";
import { LuaScript } from "../../redis/index.js";
import { READ_TO_TTL_MS, readToKey } from "./redis-stream-keys.js";

/**
 * Lua helpers: `after(a, b)`, whether stream id `a` is above `b` (a malformed id is below all);
 * `last_generated(stream)`; `mark_read(stream, mark, id, ttl)`, which raises the mark to `id` and
 * never lowers it, except a mark above the stream's last generated id: left by a stream deleted
 * since and written again with lower ids, it is replaced (else this stream's reads never count).
 */
export const MARK_READ = `
local function id_parts(id)
  local ms, seq = string.match(id or '', '^(%d+)%-(%d+)$')
  return tonumber(ms or -1), tonumber(seq or -1)
end
local function after(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  return am > bm or (am == bm and as > bs)
end
local function last_generated(stream)
  local info = redis.call('XINFO', 'STREAM', stream)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
local function mark_read(stream, mark_key, id, ttl)
  local mark = redis.call('GET', mark_key)
  if mark and not after(id, mark) and not after(mark, last_generated(stream)) then return end
  redis.call('SET', mark_key, id, 'PX', ttl)
end
`;

/**
 * Raises the read-to marks after a blocking read. KEYS: stream, mark, stream, mark... (one hash
 * slot). ARGV: ttl ms, then the last id read from each stream, in KEYS order. Returns nothing.
 */
export const markReadScript = new LuaScript(`${MARK_READ}
for i = 1, #KEYS, 2 do mark_read(KEYS[i], KEYS[i + 1], ARGV[(i + 1) / 2 + 1], ARGV[1]) end
return 0
`);

/**
 * Recreates a missing group, or moves forward one recreated behind the mark (by another instance
 * that read less, or an older release). The position is max(mark, ARGV[2] the caller's own last
 * read), of those not above the stream's last generated id: a position past every id the stream
 * ever had is not in this stream. None left: `0` when the mark is above (the stream was deleted and
 * written again with lower ids: this group has read none of it), else the stream's last id (the
 * caller's own read was lost with Redis's last writes, like everything before it: handed out).
 * A missing stream: created at `0` (MKSTREAM: every entry written later is new). A group found
 * further on is left alone (never moved back). KEYS: stream, mark. ARGV: group, own last read id.
 * Returns `{outcome, id}`: "created" or "moved" and the group's new position, or "exists" and its
 * current one.
 */
export const recreateGroupScript = new LuaScript(`${MARK_READ}
local group, own = ARGV[1], ARGV[2]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], group, '0', 'MKSTREAM')
  return {'created', '0'}
end
local mark = redis.call('GET', KEYS[2])
local last = last_generated(KEYS[1])
local at
for _, id in ipairs({mark or '', own}) do
  if id_parts(id) >= 0 and not after(id, last) and (at == nil or after(id, at)) then at = id end
end
if at == nil then at = (mark and after(mark, last)) and '0' or last end
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  if info['name'] == group then
    if not after(at, info['last-delivered-id']) then return {'exists', info['last-delivered-id']} end
    redis.call('XGROUP', 'SETID', KEYS[1], group, at)
    return {'moved', at}
  end
end
redis.call('XGROUP', 'CREATE', KEYS[1], group, at)
return {'created', at}
`);

/**
 * Sends markReadScript for `lastRead` (stream key -> last id a `>` read of `group` got there; every
 * stream in one hash slot) without waiting: on a dedicated reader connection it runs before the
 * next read. A failure is only logged (`onError`): the next read that gets entries raises the mark.
 */
export function sendReadMarks(
  redis: Redis,
  group: string,
  lastRead: ReadonlyMap<string, string>,
  onError: (error: unknown) => void,
): void {
  if (lastRead.size === 0) return;
  const keys = [...lastRead.keys()].flatMap((stream) => [stream, readToKey(stream, group)]);
  markReadScript.run(redis, keys, [READ_TO_TTL_MS, ...lastRead.values()]).catch(onError);
}

/** What recreateGroupScript did: "created" or "moved" to `id`, or found the group at `id`. */
export interface Recreated {
  outcome: "created" | "moved" | "exists";
  id: string;
}

/**
 * Runs recreateGroupScript for `group` on `stream`; `own` is the caller's own last read there.
 * Throws what Redis replies (an OOM refusal of XGROUP CREATE at maxmemory, a connection error).
 */
export async function recreateGroup(
  redis: Redis,
  stream: string,
  group: string,
  own: string,
): Promise<Recreated> {
  const [outcome, id] = (await recreateGroupScript.run(
    redis,
    [stream, readToKey(stream, group)],
    [group, own],
  )) as [Recreated["outcome"], string];
  return { outcome, id };
}

/** Where and how often a ReadMarkPacer writes the marks of one read loop (one hash slot). */
export interface ReadMarkPacerOptions {
  /** The read loop's connection: a write due at once is sent there, ahead of its next read. */
  reader: Redis;
  /** Where a trailing write goes (the reader may be blocked in XREADGROUP BLOCK by then). */
  redis: Redis;
  group: string;
  /** At most one write per this many ms (> 0); the marks lag the reads by at most as long. */
  intervalMs: number;
  onError: (error: unknown) => void;
}

/**
 * Paces the read-to mark writes of one read loop's plain XREADGROUPs: after a read that got
 * entries, the marks are sent at once if none were sent in the last `intervalMs`; else ONE
 * trailing timer sends the latest position of every stream read meanwhile when the interval ends.
 * So a busy loop costs one script call per interval, not one per read, and an idle one none.
 * The window this leaves: entries another instance read in the last interval before an
 * `XGROUP DESTROY` are not in the mark yet, so the instance that recreates the group may hand them
 * out again (at most an interval's worth, and never the recreating instance's own: its own last
 * read counts too). The consumers' idempotency absorbs them, as for any redelivery; a destroy
 * under running instances is an operator's error in the first place.
 */
export class ReadMarkPacer {
  /** Per stream, the last id read and not yet sent. */
  private readonly due = new Map<string, string>();
  private sentAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: ReadMarkPacerOptions) {}

  /** After a read: `lastRead` is stream key -> last id this read got there (may be empty). */
  read(lastRead: ReadonlyMap<string, string>): void {
    if (this.closed || lastRead.size === 0) return;
    for (const [stream, id] of lastRead) this.due.set(stream, id);
    const wait = this.sentAt + this.options.intervalMs - performance.now();
    if (wait <= 0) this.send(this.options.reader);
    else this.timer ??= setTimeout(() => this.send(this.options.redis), wait).unref();
  }

  /** Drops what is not sent yet and the timer (at stop: the connections are closing). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.due.clear();
  }

  private send(redis: Redis): void {
    this.timer = undefined;
    if (this.closed || this.due.size === 0) return;
    this.sentAt = performance.now();
    sendReadMarks(redis, this.options.group, new Map(this.due), this.options.onError);
    this.due.clear();
  }
}
