/**
 * bus8 item 1: every order instance asked for its own AOF rewrite after shredding (the interval
 * throttled each instance alone), so N instances forked Redis N times per interval. Two compactors
 * on two connections to one Redis with AOF on stand for two instances sharing the throttle key.
 */
import { Redis } from "ioredis";
import { afterEach, beforeEach, expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { AofCompactor } from "./aof-compactor.js";

const THROTTLE_KEY = "{order}:aof-rewrite";

describeWithRedis("AOF rewrite after shredding, across instances", (getRedis) => {
  const connections: Redis[] = [];
  const compactors: AofCompactor[] = [];

  /** One order instance's compactor, on its own connection. */
  const instance = (intervalMs: number): AofCompactor => {
    const redis = new Redis(getRedis().url);
    connections.push(redis);
    const compactor = new AofCompactor(redis, {
      intervalMs,
      throttleKey: THROTTLE_KEY,
      onError: (error) => expect.fail(String(error)),
    });
    compactors.push(compactor);
    return compactor;
  };

  /** BGREWRITEAOF requests Redis received (accepted, refused or failed) since the last RESETSTAT. */
  const rewriteRequests = async (): Promise<number> => {
    const line = /cmdstat_bgrewriteaof:([^\r\n]*)/.exec(await getRedis().client().info("commandstats"))?.[1];
    const field = (name: string) => Number(new RegExp(`${name}=(\\d+)`).exec(line ?? "")?.[1] ?? 0);
    return field("calls") + field("rejected_calls") + field("failed_calls");
  };

  /** Waits until no rewrite runs nor is scheduled: a request sent now would start one. */
  const rewriteIdle = () =>
    waitFor(
      async () => {
        const info = await getRedis().client().info("persistence");
        return /aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info);
      },
      30_000,
      "no AOF rewrite running",
    );

  beforeEach(async () => {
    await getRedis().flush();
    await rewriteIdle();
    await getRedis().client().config("RESETSTAT");
  });

  afterEach(async () => {
    for (const compactor of compactors.splice(0)) compactor.stop();
    for (const redis of connections.splice(0)) redis.disconnect();
    await rewriteIdle();
  });

  it("two instances within one interval request one rewrite between them", async () => {
    const [a, b] = [instance(60_000), instance(60_000)];
    expect(await a.run()).toBe("rewrite-requested");
    // The first rewrite is over: a second request now would fork again.
    await rewriteIdle();
    expect(await b.run()).not.toBe("rewrite-requested");
    expect(await rewriteRequests()).toBe(1);
  });

  it("shreds of both instances before one rewrite is requested are covered by it", async () => {
    const [a, b] = [instance(60_000), instance(60_000)];
    a.shredded();
    b.shredded();
    await waitFor(async () => !a.scheduled && !b.scheduled, 30_000, "both compactors ran");
    // Neither waits for the interval to pass: the one rewrite started after both deletes.
    expect(await rewriteRequests()).toBe(1);
  });

  it("a shred after the other instance's rewrite still gets its own once the interval passed", async () => {
    const [a, b] = [instance(1_500), instance(1_500)];
    expect(await a.run()).toBe("rewrite-requested");
    await rewriteIdle();
    b.shredded();
    // b's delete came after a's rewrite started: b asks again when the shared interval allows.
    await waitFor(async () => (await rewriteRequests()) === 2 && !b.scheduled, 30_000, "b's rewrite");
    expect(await getRedis().client().exists(THROTTLE_KEY)).toBe(1);
  });
});
