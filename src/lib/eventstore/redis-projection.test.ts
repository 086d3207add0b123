import { describeWithRedis } from "../../test-support/redis.js";
import { runProjectionContract } from "./projection-contract.js";
import { RedisEventStore } from "./redis-event-store.js";
import { RedisReadModelStore } from "./redis-read-model-store.js";

describeWithRedis("Redis projections", (getRedis) => {
  runProjectionContract("redis", async () => {
    await getRedis().flush();
    return {
      events: new RedisEventStore({ redis: getRedis().client(), tag: "toy" }),
      readModel: <V>(name: string) =>
        new RedisReadModelStore<V>({ redis: getRedis().client(), tag: "toy", name }),
    };
  });
});
