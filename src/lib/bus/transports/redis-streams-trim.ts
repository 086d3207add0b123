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
 * (tests, tools), and runs on no timer of its own.
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

/** The stream keys a service owns: one per event it owns in the catalog, and its redeliver stream. */
export function ownedStreamKeys(events: EventRegistry, owner: string): string[] {
  const topics = Object.values(events)
    .filter((definition) => definition.owner === owner)
    .map((definition) => eventStreamKey(owner, definition.name));
  return [...new Set([...topics, redeliverStreamKey(owner)])];
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
}

export class StreamTrimmer {
  private readonly timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

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
    return removed.reduce<number>((sum, n) => sum + Number(n), 0);
  }
}
