/**
 * A consumer group's lag and pending count on one stream, as `/metrics` reports them
 * (`consumer_lag_messages`, `consumer_pending_messages`), from `XINFO GROUPS`.
 *
 * Redis's `lag` is derived from the group's `entries-read` counter, which is not exact after trims or
 * deletions (Redis then answers nil) nor after a restart from the AOF on Redis 7.0: `entries-read`
 * goes back to its value at the last AOF rewrite (redis/redis#12898), so a group that has read every
 * entry reports a backlog that never clears (newuser16 F1: 5 to 13 on every series of an idle system,
 * growing with each restart; the lag alert reads it). So a group whose last-delivered id is the
 * stream's last-generated id, which has nothing after its position, is reported 0 whatever the
 * counter says; only a group behind reports Redis's number (nil: no sample rather than a guess).
 */
import type { Redis } from "ioredis";

export interface GroupStats {
  /** Entries after the group's position; absent when Redis cannot tell. */
  lag?: number;
  /** Entries delivered and not acknowledged. */
  pending: number;
}

/** Field `name` of a flat `[name, value, ...]` reply. */
const field = (reply: readonly unknown[], name: string): unknown => {
  const at = reply.indexOf(name);
  return at >= 0 && at % 2 === 0 ? reply[at + 1] : undefined;
};

/**
 * The stats of `group` on `stream`, or undefined when the stream or the group does not exist (or the
 * read failed). Never throws: a failed second read leaves Redis's own lag.
 */
export async function groupStats(
  redis: Redis,
  stream: string,
  group: string,
): Promise<GroupStats | undefined> {
  const groups = (await redis.xinfo("GROUPS", stream).catch(() => [])) as unknown[][];
  const info = groups.find((g) => field(g, "name") === group);
  if (!info) return undefined;
  const pending = Number(field(info, "pending") ?? 0);
  const lag = field(info, "lag");
  if (lag === 0) return { lag, pending };
  const streamInfo = (await redis.xinfo("STREAM", stream).catch(() => [])) as unknown[];
  if (field(info, "last-delivered-id") === field(streamInfo, "last-generated-id")) return { lag: 0, pending };
  return typeof lag === "number" ? { lag, pending } : { pending };
}
