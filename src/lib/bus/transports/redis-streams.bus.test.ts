import { describe } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { runBusContract } from "../bus-contract.js";
import { RedisIdempotencyStore } from "../idempotency/redis-store.js";
import { RedisStreamsTransport } from "./redis-streams.js";

describeWithRedis("bus over the Redis Streams transport", (getRedis) => {
  describe("guarantees", () => {
    runBusContract(async ({ hostClockSkewMs = 0, ...tuning } = {}) => {
      await getRedis().flush();
      const redis = getRedis().client();
      const deadLetters = new MemoryDeadLetterStore();
      const transport = new RedisStreamsTransport({
        redis,
        deadLetters,
        claimIdleMs: 200,
        claimIntervalMs: 50,
        blockMs: 200,
        ...(hostClockSkewMs === 0 ? {} : { now: () => Date.now() + hostClockSkewMs }),
        ...tuning,
      });
      const idempotency = new RedisIdempotencyStore(redis, "{test}:idem:");
      return { transport, deadLetters, idempotency, cleanup: () => transport.close() };
    });
  });
});
