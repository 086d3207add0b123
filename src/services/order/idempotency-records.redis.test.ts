import { waitFor } from "../../test-support/wait.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { idempotencyRecordKey, RedisIdempotencyRecords } from "./idempotency-records-redis.js";
import { runIdempotencyRecordsContract } from "./idempotency-records-contract.js";

describeWithRedis("order idempotency records on redis", (getRedis) => {
  runIdempotencyRecordsContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      records: new RedisIdempotencyRecords(redis),
      // Redis expires keys on its own clock: wait until the one key the TTL test wrote is gone.
      advance: async () => {
        await waitFor(
          async () => (await redis.exists(idempotencyRecordKey("c", "k-ttl"))) === 0,
          5_000,
          "the record to expire",
        );
      },
    };
  });
});
