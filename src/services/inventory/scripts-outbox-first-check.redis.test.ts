/**
 * Inventory's scripts check their event streams before their first write (newuser17 F1): Redis does
 * not undo a script's earlier writes when a later command fails, so a restock whose XADD failed
 * (WRONGTYPE, NOPERM) kept the added stock without its event, and its retry added it again.
 */
import { expect, it } from "vitest";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { productKey } from "./keys.js";
import { RESTOCK } from "./scripts.js";

describeWithRedis("inventory scripts", (getRedis) => {
  it("a restock whose event cannot be appended changes no stock: the retry adds it once", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const product = productKey("p-f1");
    await redis.hset(product, "available", 5, "reserved", 0);
    const stream = eventStreamKey("inventory", "inventory.restocked");
    await redis.set(stream, "not a stream");
    const run = () => RESTOCK.run(redis, [product, stream], [3, "5", 1_000, "", "body"]);
    await expect(run()).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.hget(product, "available")).toBe("5");
    await redis.del(stream);
    expect(await run()).toBe("ok");
    expect(await redis.hget(product, "available")).toBe("8");
    expect(await redis.xlen(stream)).toBe(1);
  });
});
