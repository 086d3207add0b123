import { afterEach, expect, it, vi } from "vitest";
import { eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createRedisPlatform, type Platform } from "./platform.js";

describeWithRedis("the Redis platform", (getRedis) => {
  let platform: Platform | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await platform?.close();
    platform = undefined;
  });

  it("runs no trim loop in its transport: a service's owned-stream trimmer is the only one", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    platform = createRedisPlatform({ url: getRedis().url });
    const redis = platform.redis!;
    const ref = { topic: "thing.happened", owner: "loop-check" };
    const key = eventStreamKey(ref.owner, ref.topic);
    await platform.transport.ensureGroups("reader", [ref]);
    await platform.transport.publish([1, 2, 3].map((n) => ({ ...ref, id: `m${n}`, body: `body ${n}` })));
    const read = (await redis.xreadgroup("GROUP", "reader", "c", "STREAMS", key, ">")) as [
      string,
      [string, string[]][],
    ][];
    await redis.xack(key, "reader", ...read[0]![1].map(([id]) => id));
    // Hours of the transport's timers: a loop of its own would have trimmed the acked entries.
    await vi.advanceTimersByTimeAsync(3 * 3_600_000);
    for (let n = 0; n < 3; n++) await redis.ping(); // whatever a timer sent has been answered
    expect(await redis.xlen(key)).toBe(3);
  });
});
