import { describeWithRedis } from "../../test-support/redis.js";
import { RedisOrderListIndex } from "./order-list-redis.js";
import { runOrderListContract } from "./order-list-contract.js";

describeWithRedis("order list index on redis", (getRedis) => {
  runOrderListContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return new RedisOrderListIndex(redis);
  });
});
