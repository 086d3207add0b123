/**
 * The lost-reply outbox writes its marker last (newuser17 F1): Redis does not undo a script's
 * earlier writes when a later command fails, so a marker written before a failing XADD made every
 * retry answer "published before" and the compensation command was never sent.
 */
import { expect, it } from "vitest";
import { eventStreamKey } from "../../lib/bus/transports/redis-stream-keys.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { lostReplyKey } from "./keys.js";
import { redisLostReplyOutbox } from "./lost-replies.js";

describeWithRedis("the lost-reply outbox", (getRedis) => {
  it("a command that cannot be appended is not marked published: the retry publishes it once", async () => {
    const redis = getRedis().client();
    await redis.flushall();
    const outbox = redisLostReplyOutbox(redis, 3_600_000);
    const message = { topic: "inventory.release", owner: "order", id: "m-1", body: "b-1" };
    const stream = eventStreamKey("order", "inventory.release");
    await redis.set(stream, "not a stream");
    await expect(outbox.publishOnce("o-1", "inventory.release", message)).rejects.toThrow(/WRONGTYPE/);
    expect(await redis.exists(lostReplyKey("o-1", "inventory.release"))).toBe(0);
    await redis.del(stream);
    expect(await outbox.publishOnce("o-1", "inventory.release", message)).toBe(true);
    expect(await outbox.publishOnce("o-1", "inventory.release", message)).toBe(false);
    expect(await redis.xlen(stream)).toBe(1);
  });
});
