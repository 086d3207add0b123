/**
 * Trimming of the streams a service owns, whoever wrote them. The transport's own `trim()` covers
 * the streams it published to or created groups on; the streams a store's Lua script appends to
 * (the native outbox) and no group reads, like `{order}:ev:order.placed`, are touched by neither, so
 * each service trims every stream of the events it owns, plus its redeliver stream.
 *
 * - A stream with groups loses only what every group has handled: MINID at each group's oldest
 *   pending entry, or just past its last-delivered id when nothing is pending. Never MAXLEN there.
 * - A stream without groups keeps a time window (`retentionMs`) and at most `maxLen` entries
 *   (both approximate, `~`: whole radix nodes go, which is what makes trimming cheap). The window
 *   is measured inside the script on Redis `TIME`, the clock entry ids are made of: a host whose
 *   clock runs ahead would otherwise trim entries younger than the window.
 *
 * This is the only trim loop of a service: the transport's `trim()` is there for explicit calls
 * (tests, tools), and runs on no timer of its own. A program using the bus library without the
 * service host starts one itself (README, "Use the bus library on its own"): nothing else trims, and
 * Redis runs `noeviction`. Its Redis user needs, on those keys, EVALSHA and EVAL (the passes are Lua
 * scripts) and, run by them, EXISTS, TIME, XINFO GROUPS, XINFO STREAM, XPENDING and XTRIM.
 *
 * The owned stream keys come from the event catalog, not from SCAN: a fixed, small set per
 * service, no keyspace walk as the store grows.
 */
import type { Redis } from "ioredis";
import type { EventRegistry } from "../events.js";
import { LuaScript } from "../../redis/index.js";
import { eventStreamKey, redeliverStreamKey } from "./redis-stream-keys.js";
import { TRIM_BELOW_EVERY_GROUP } from "./redis-streams-scripts.js";

/**
 * KEYS: stream. ARGV: window kept in a stream without groups (ms, counted back from Redis `TIME`),
 * max length of one (0 = no cap). Returns the number of entries removed.
 */
export const trimOwnedStreamScript = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local minId = string.format('%.0f-0', math.max(0, now - tonumber(ARGV[1])))
  local removed = redis.call('XTRIM', KEYS[1], 'MINID', '~', minId)
  if tonumber(ARGV[2]) > 0 then removed = removed + redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[2]) end
  return removed
end
${TRIM_BELOW_EVERY_GROUP}`);

/**
 * KEYS: stream. ARGV: how long a group may go without reading (ms, on Redis `TIME`). Returns, flat,
 * `group, last-delivered id, lag, idle ms` for each group with entries after its last-delivered id
 * (behind the stream's last-generated id) and that id older than ARGV[1]: a group nobody reads,
 * which keeps every later entry (newuser10 F1: a tried-out example's group left on
 * `{order}:ev:order.completed`). Not by `lag`, which is not exact after trims or an AOF restart
 * (docs/storage.md); it is returned for the message only (-1: Redis cannot tell).
 */
export const staleGroupsScript = new LuaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stream = redis.call('XINFO', 'STREAM', KEYS[1])
local last
for i = 1, #stream, 2 do if stream[i] == 'last-generated-id' then last = stream[i + 1] end end
local lms, lseq = string.match(last, '^(%d+)-(%d+)$')
local out = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local id = info['last-delivered-id']
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  local behind = tonumber(ms) < tonumber(lms) or (ms == lms and tonumber(seq) < tonumber(lseq))
  if behind and now - tonumber(ms) > tonumber(ARGV[1]) then
    table.insert(out, info['name'])
    table.insert(out, id)
    table.insert(out, info['lag'] or -1)
    table.insert(out, now - tonumber(ms))
  end
end
return out`);

/** A consumer group that has read nothing for long while entries wait for it (staleGroupsScript). */
export interface StaleGroup {
  stream: string;
  group: string;
  /** Entries not yet delivered to it (-1: Redis cannot tell). */
  lag: number;
  /** Since its last-delivered entry was written, ms. */
  idleMs: number;
}

/** How long a group may read nothing while entries wait before it is reported (ms). */
export const STALE_GROUP_MS = 15 * 60_000;
/** How often one stale group is reported again (ms). */
const STALE_REPORT_EVERY_MS = 60 * 60_000;

/**
 * The stream keys a service owns: one per event `owner` owns in `events` (`{owner}:ev:<event>`),
 * and the redeliver stream (`{group}:redeliver`, DLQ replays) of each of `groups`: by default the
 * group named as the owner, as the services name theirs. A program of the bus library whose
 * consumer group has another name passes it (`ownedStreamKeys(Events, "shop", ["shop-readers"])`).
 */
export function ownedStreamKeys(
  events: EventRegistry,
  owner: string,
  groups: readonly string[] = [owner],
): string[] {
  const topics = Object.values(events)
    .filter((definition) => definition.owner === owner)
    .map((definition) => eventStreamKey(owner, definition.name));
  return [...new Set([...topics, ...groups.map(redeliverStreamKey)])];
}

export interface StreamTrimmerOptions {
  redis: Redis;
  /** The stream keys to trim (`ownedStreamKeys`). */
  keys: readonly string[];
  /** Window kept in a stream without groups, ms. */
  retentionMs: number;
  /** Most entries (about) kept in a stream without groups; 0 = no cap. */
  maxLenWithoutGroups: number;
  /** How often `trimOnce` runs, ms; 0 = only on demand. */
  intervalMs: number;
  onError?: (error: unknown) => void;
  /**
   * Told, after a pass, of each group that read nothing for `staleGroupMs` (default
   * STALE_GROUP_MS) while entries wait for it, seen so on two passes in a row at the same entry,
   * at most once an hour per group: it holds the
   * stream's trimming back, so the stream grows (a retired service's group: XGROUP DESTROY).
   */
  onStaleGroup?: (stale: StaleGroup) => void;
  staleGroupMs?: number;
}

export class StreamTrimmer {
  private readonly timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;
  private readonly reported = new Map<string, number>();
  /** `<stream> <group>` → its last-delivered id when the previous pass found it behind. */
  private readonly behind = new Map<string, string>();

  constructor(private readonly options: StreamTrimmerOptions) {
    if (options.intervalMs > 0) {
      this.timer = setInterval(() => {
        this.trimOnce().catch((error: unknown) => options.onError?.(error));
      }, options.intervalMs);
      this.timer.unref();
    }
  }

  /** One pass over every key; a pass still running is joined, not doubled. Returns entries removed. */
  trimOnce(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<number> {
    const { redis, keys, retentionMs, maxLenWithoutGroups } = this.options;
    const removed = await Promise.all(
      keys.map((key) =>
        trimOwnedStreamScript.run(redis, [key], [Math.floor(retentionMs), maxLenWithoutGroups]),
      ),
    );
    if (this.options.onStaleGroup) await this.reportStale(this.options.onStaleGroup);
    return removed.reduce<number>((sum, n) => sum + Number(n), 0);
  }

  private async reportStale(report: (stale: StaleGroup) => void): Promise<void> {
    const { redis, keys, staleGroupMs = STALE_GROUP_MS } = this.options;
    const behind = new Map<string, string>();
    for (const stream of keys) {
      const flat = (await staleGroupsScript.run(redis, [stream], [Math.floor(staleGroupMs)])) as unknown[];
      for (let i = 0; i + 3 < flat.length; i += 4) {
        const group = String(flat[i]);
        const id = `${stream} ${group}`;
        behind.set(id, String(flat[i + 1]));
        // Behind at the same entry two passes in a row: not a read racing this pass.
        if (this.behind.get(id) !== String(flat[i + 1])) continue;
        const last = this.reported.get(id);
        if (last !== undefined && performance.now() - last < STALE_REPORT_EVERY_MS) continue;
        this.reported.set(id, performance.now());
        report({ stream, group, lag: Number(flat[i + 2]), idleMs: Number(flat[i + 3]) });
      }
    }
    this.behind.clear();
    for (const [id, at] of behind) this.behind.set(id, at);
  }
}
