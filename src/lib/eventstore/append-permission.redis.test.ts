/**
 * An append a command of which the Redis user may not run writes nothing (newuser17 F1): Redis does
 * not undo a script's earlier writes when a later command fails (NOPERM), so an append whose XADD
 * was denied kept its events in the stream (and the position counter moved) without the global log
 * entry or the outbox messages. Every command is checked before the first write.
 */
import { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { RedisEventStore } from "./redis-event-store.js";

describeWithRedis("an append under a Redis user lacking one of its commands", (getRedis) => {
  it("writes nothing; once granted, the retry appends once", async () => {
    await getRedis().flush();
    const admin = getRedis().client();
    await admin.call("ACL", "SETUSER", "es-no-xadd", "reset", "on", "nopass", "~*", "&*", "+@all", "-xadd");
    const redis = new Redis({
      host: "127.0.0.1",
      port: getRedis().port,
      username: "es-no-xadd",
      password: "x",
    });
    try {
      const store = new RedisEventStore({ redis, tag: "toy" });
      const append = () =>
        store.append("s-1", [{ type: "x", data: 1 }], {
          expectedVersion: "no_stream",
          outbox: [{ topic: "x", owner: "toy", id: "m", body: "b" }],
        });
      await expect(append()).rejects.toThrow(/NOPERM|can't run this command/);
      expect(await store.version("s-1")).toBe(0);
      expect(await admin.keys("*")).toEqual([]);
      await admin.call("ACL", "SETUSER", "es-no-xadd", "+xadd");
      await append();
      expect(await store.version("s-1")).toBe(1);
    } finally {
      redis.disconnect();
    }
  });
});
