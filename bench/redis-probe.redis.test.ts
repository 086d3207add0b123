import { expect, it } from "vitest";
import { dueKey } from "../src/services/shipping/keys.js";
import { describeWithRedis } from "../src/test-support/redis.js";
import { untilDeliveriesDone } from "./redis-probe.js";

describeWithRedis("bench Redis probe", (getRedis) => {
  it("waits for every due delivery and for the event streams to be quiet, and says when it gave up", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const options = { quietMs: 50, pollMs: 10 };
    expect(await untilDeliveriesDone(redis, { ...options, maxMs: 5_000 })).toBe(true);
    await redis.zadd(dueKey(), 1, "o-1");
    expect(await untilDeliveriesDone(redis, { ...options, maxMs: 200 })).toBe(false);
    await redis.zrem(dueKey(), "o-1");
    // A stream that keeps growing is not quiet.
    const growing = setInterval(
      () => void redis.xadd("{shipping}:ev:shipping.shipment.delivered", "*", "d", "x"),
      5,
    );
    try {
      expect(await untilDeliveriesDone(redis, { ...options, maxMs: 300 })).toBe(false);
    } finally {
      clearInterval(growing);
    }
    expect(await untilDeliveriesDone(redis, { ...options, maxMs: 5_000 })).toBe(true);
  });
});
