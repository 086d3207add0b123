import { describeWithRedis } from "../../test-support/redis.js";
import { runProviderContract } from "./provider-contract.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";

describeWithRedis("RedisProviderLedger", (getRedis) => {
  runProviderContract("redis", () => new RedisProviderLedger(getRedis().client()));
});
