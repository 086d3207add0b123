import { describeWithRedis } from "../../test-support/redis.js";
import { notificationEventStreamKey } from "./keys.js";
import { RedisNotificationStore } from "./redis-store.js";
import { runNotificationStoreContract } from "./store-contract.js";

describeWithRedis("RedisNotificationStore", (getRedis) => {
  runNotificationStoreContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      store: new RedisNotificationStore(redis),
      emitted: async (topic) => {
        const entries = await redis.xrange(notificationEventStreamKey(topic), "-", "+");
        return entries.map(([, fields]) => fields[1] ?? "");
      },
    };
  });
});
