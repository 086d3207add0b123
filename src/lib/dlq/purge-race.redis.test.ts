import { describeWithRedis } from "../../test-support/redis.js";
import { runPurgeRaceContract } from "./purge-race-contract.js";
import { RedisDeadLetterStore } from "./redis-dead-letter-store.js";

// break14 F1/F2 on the real store: the purge's DEL lands between the read and the compare-and-set.
describeWithRedis("RedisDeadLetterStore", (getRedis) => {
  runPurgeRaceContract("redis", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    return new RedisDeadLetterStore(redis);
  });
});
