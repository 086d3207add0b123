import { describeWithRedis } from "../../test-support/redis.js";
import { userEventStreamKey } from "./keys.js";
import { RedisUserStore } from "./redis-store.js";
import { runUserStoreContract } from "./store-contract.js";

describeWithRedis("RedisUserStore", (getRedis) => {
  runUserStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisUserStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(userEventStreamKey(topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
