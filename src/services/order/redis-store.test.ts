import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { ORDER_TAG } from "./keys.js";
import { createRedisOrderStores } from "./redis-store.js";
import { runOrderStoreContract } from "./store-contract.js";

describeWithRedis("order redis stores", (getRedis) => {
  runOrderStoreContract("redis", async (now) => {
    const redis = getRedis().client();
    await redis.flushall();
    return {
      stores: createRedisOrderStores({ redis, now }),
      // What reached the bus: the entries the append's script XADDed to the event's stream.
      emitted: async (topic) => {
        const entries = await redis.xrange(eventStreamKey(ORDER_TAG, topic), "-", "+");
        return entries.map(([, fields]) => (JSON.parse(fields[1] ?? "{}") as { payload: unknown }).payload);
      },
    };
  });
});
