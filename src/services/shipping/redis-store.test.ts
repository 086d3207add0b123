import { describeWithRedis } from "../../test-support/redis.js";
import { eventStreamKey } from "./keys.js";
import { RedisShippingStore } from "./redis-store.js";
import { runShippingStoreContract } from "./store-contract.js";

describeWithRedis("RedisShippingStore", (getRedis) => {
  runShippingStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisShippingStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(eventStreamKey("shipping", topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
