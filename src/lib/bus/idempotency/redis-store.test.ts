import { randomUUID } from "node:crypto";
import { describeWithRedis } from "../../../test-support/redis.js";
import { RedisIdempotencyStore } from "./redis-store.js";
import { runIdempotencyStoreContract } from "./store-contract.js";

describeWithRedis("Redis idempotency store", (getRedis) => {
  runIdempotencyStoreContract(
    async () => new RedisIdempotencyStore(getRedis().client(), `{test}:idem:${randomUUID()}:`),
  );
});
