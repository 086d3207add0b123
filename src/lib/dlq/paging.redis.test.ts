import { describeWithRedis } from "../../test-support/redis.js";
import { runDeadLetterPagingContract } from "./paging-contract.js";
import { RedisDeadLetterStore } from "./redis-dead-letter-store.js";

describeWithRedis("dead-letter paging on redis", (getRedis) => {
  runDeadLetterPagingContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return new RedisDeadLetterStore(redis, { pageSize: 4 });
  });
});
