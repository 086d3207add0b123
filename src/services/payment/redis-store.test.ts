import { describeWithRedis } from "../../test-support/redis.js";
import { eventStreamKey } from "./keys.js";
import { RedisPaymentStore } from "./redis-store.js";
import { runPaymentStoreContract } from "./store-contract.js";

describeWithRedis("RedisPaymentStore", (getRedis) => {
  runPaymentStoreContract("redis", async () => {
    const redis = getRedis().client();
    return {
      store: new RedisPaymentStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(eventStreamKey("payment", topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
