/**
 * The crash-loop backstop (break23): a message whose silent deliveries reach
 * CRASH_LOOP_BACKSTOP_FACTOR x its crash-loop limit is parked, though none was proven its own.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { Publisher } from "./publisher.js";
import { CRASH_LOOP_BACKSTOP_FACTOR, unprovenCrashLoopReason } from "./retry-policy.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { eventStreamKey } from "./transports/redis-stream-keys.js";
import { RedisStreamsTransport } from "./transports/redis-streams.js";

describeWithRedis("the crash-loop backstop", (getRedis) => {
  it("parks a message silent 3 x its limit times in company; one silent once fewer runs", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const deadLetters = new RedisDeadLetterStore(redis);
    const transport = new RedisStreamsTransport({
      redis,
      deadLetters,
      claimIdleMs: 100,
      claimIntervalMs: 50,
    });
    const stream = eventStreamKey("shop", "item.added");
    await transport.ensureGroups("g", [{ topic: "item.added", owner: "shop" }]);
    const publisher = new Publisher({
      events: TestEvents,
      transport,
      source: { service: "t", instance: "t" },
    });
    await publisher.publish("item.added", { sku: "over", quantity: 1 });
    await publisher.publish("item.added", { sku: "under", quantity: 1 });
    // Delivered to a consumer that died, as if silent that many times (none of them alone).
    const limit = 3;
    const reply = (await redis.xreadgroup("GROUP", "g", "ghost", "STREAMS", stream, ">")) as [
      string,
      [string, string[]][],
    ][];
    const [over, under] = reply[0]![1].map(([id]) => id);
    await redis.xclaim(stream, "g", "ghost", 0, over!, "RETRYCOUNT", CRASH_LOOP_BACKSTOP_FACTOR * limit);
    await redis.xclaim(stream, "g", "ghost", 0, under!, "RETRYCOUNT", CRASH_LOOP_BACKSTOP_FACTOR * limit - 1);
    const ran: string[] = [];
    const subscriber = new Subscriber({
      events: TestEvents,
      transport,
      verifier: null,
      group: "g",
      consumer: "c1",
      retry: { maxSilentDeliveries: limit },
    }).on("item.added", async ({ sku }) => void ran.push(sku));
    await subscriber.start();
    try {
      await waitFor(
        async () => ran.length > 0 && (await deadLetters.list({})).length > 0,
        20_000,
        "both settled",
      );
      const records = await deadLetters.list({});
      expect(records.map((r) => [JSON.parse(r.body).payload.sku, r.reason])).toEqual([
        ["over", unprovenCrashLoopReason(CRASH_LOOP_BACKSTOP_FACTOR * limit)],
      ]);
      expect(ran).toEqual(["under"]);
    } finally {
      await subscriber.stop();
      await transport.close();
    }
  });
});
