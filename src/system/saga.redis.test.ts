import { createRedisPlatform } from "../lib/runtime/platform.js";
import { describeWithRedis } from "../test-support/redis.js";
import { runSagaSuite } from "./saga-contract.js";

describeWithRedis("order saga end to end over Redis, every service its own consumer group", (getRedis) => {
  runSagaSuite(async () => createRedisPlatform({ url: getRedis().url }));
});
