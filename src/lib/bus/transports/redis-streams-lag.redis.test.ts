/**
 * newuser16 F1: after a restart from the AOF, Redis 7.0 puts a group's `entries-read` back to its
 * value at the last AOF rewrite (redis/redis#12898), so `XINFO GROUPS` reports a lag that never
 * clears for a group that has read everything, and `consumer_lag_messages` showed it. The same
 * state is made here with `XGROUP SETID ... ENTRIESREAD` (Redis 7.0+), which sets that counter.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { groupStats } from "./redis-streams-lag.js";

describeWithRedis("a consumer group's lag as the metrics report it", (getRedis) => {
  const stream = "{test}:ev:lag";

  it("is 0 for a group that has read every entry, whatever Redis's entries-read counter says", async () => {
    const redis = getRedis().client();
    await redis.del(stream);
    await redis.xgroup("CREATE", stream, "g", "0", "MKSTREAM");
    for (let i = 0; i < 13; i++) await redis.xadd(stream, "*", "n", String(i));
    await redis.xreadgroup("GROUP", "g", "c", "COUNT", 100, "STREAMS", stream, ">");
    const last = (await redis.xrevrange(stream, "+", "-", "COUNT", 1))[0]![0];
    // The counter as an AOF restart leaves it: 2 read, though the group's position is the last entry.
    await redis.call("XGROUP", "SETID", stream, "g", last, "ENTRIESREAD", 2);
    const raw = (await redis.xinfo("GROUPS", stream)) as unknown[][];
    expect(raw[0]![raw[0]!.indexOf("lag") + 1]).toBe(11);
    expect(await groupStats(redis, stream, "g")).toEqual({ lag: 0, pending: 13 });
  });

  it("reports Redis's lag for a group behind, and nothing for a missing group or stream", async () => {
    const redis = getRedis().client();
    await redis.del(stream);
    await redis.xgroup("CREATE", stream, "g", "0", "MKSTREAM");
    for (let i = 0; i < 5; i++) await redis.xadd(stream, "*", "n", String(i));
    await redis.xreadgroup("GROUP", "g", "c", "COUNT", 2, "STREAMS", stream, ">");
    expect(await groupStats(redis, stream, "g")).toEqual({ lag: 3, pending: 2 });
    expect(await groupStats(redis, stream, "other")).toBeUndefined();
    expect(await groupStats(redis, "{test}:ev:none", "g")).toBeUndefined();
  });
});
