import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { eventStreamKey, FIELD_BODY } from "../../lib/bus/transports/redis-stream-keys.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { RedisInventoryStore } from "./redis-store.js";
import { runInventoryStoreContract } from "./store-contract.js";

describeWithRedis("RedisInventoryStore", (getRedis) => {
  runInventoryStoreContract("redis", async () => {
    await getRedis().flush();
    const reader = getRedis().client();
    // Several connections, as several instances would have.
    const peers = Array.from({ length: 4 }, () => new RedisInventoryStore({ redis: getRedis().client() }));
    return {
      store: new RedisInventoryStore({ redis: getRedis().client() }),
      peers,
      emitted: async (topic) => {
        const entries = await reader.xrange(eventStreamKey("inventory", topic), "-", "+");
        return entries.map(([, fields]) => {
          const body = fields[fields.indexOf(FIELD_BODY) + 1] ?? "";
          return decodeEnvelope(body).payload;
        });
      },
    };
  });
});
