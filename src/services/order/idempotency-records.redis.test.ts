import { expect, it } from "vitest";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
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

  it("a claim whose SET reply a connection drop lost is sent once more and is this request's claim", async () => {
    const admin = getRedis().client();
    await admin.flushall();
    const platform = createRedisPlatform({ url: getRedis().url });
    try {
      const redis = platform.redis!;
      await redis.ping();
      const records = new RedisIdempotencyRecords(redis);
      const record = { orderId: "o-lost-reply", requestHash: "h" };
      // Redis runs the SET but its reply never arrives: the socket is not read, then dropped.
      redis.stream.pause();
      const claim = records.claim("c", "k-lost", record, 60_000);
      await waitFor(
        async () => (await admin.exists(idempotencyRecordKey("c", "k-lost"))) === 1,
        10_000,
        "the SET to run",
      );
      redis.stream.destroy();
      expect(await claim).toEqual({ record, created: true });
    } finally {
      await platform.close();
    }
  });
});
