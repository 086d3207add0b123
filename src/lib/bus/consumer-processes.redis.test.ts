import { once } from "node:events";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { itemStream, startConsumer, superviseConsumer } from "./consumer-process.supervisor.js";
import { RedisStreamsTransport } from "./transports/redis-streams.js";

describeWithRedis("consumers over real processes", (getRedis) => {
  it("ten restarts of one process slot with the default INSTANCE_ID leave one consumer in the group", async () => {
    const redis = getRedis().client();
    for (let restart = 0; restart < 10; restart++) {
      const child = await startConsumer({
        REDIS_URL: getRedis().url,
        GROUP: "restarty",
        INSTANCE_SLOT: "1",
        BEHAVIOUR: "ack",
      });
      const gone = once(child, "exit");
      child.kill("SIGKILL"); // a crash, then the supervisor starts the slot again
      await gone;
    }
    const transport = new RedisStreamsTransport({ redis, deadLetters: new RedisDeadLetterStore(redis) });
    const consumers = await transport.consumers("restarty", [{ topic: "item.added", owner: "shop" }]);
    expect(consumers.map((c) => c.name)).toEqual([expect.stringMatching(/^restarty-.+-1$/)]);
    await transport.close();
  }, 120_000);

  it("a message whose handler exits the process is dead-lettered after 3 deaths, and the 4th process lives", async () => {
    const { deadLetters, transport, publish } = await itemStream(getRedis().client(), ["crashy"]);
    await publish("oom");

    try {
      // Restart the slot as a supervisor would, while it keeps dying (bounded: at most 6 starts),
      // until it is parked; a process start under a loaded machine's parallel test files takes seconds.
      const { exits, survived } = await superviseConsumer(
        { REDIS_URL: getRedis().url },
        async () => (await deadLetters.list({ group: "crashy" })).length > 0,
        { maxStarts: 6, waitMs: 45_000 },
      );
      expect(exits).toEqual([7, 7, 7]);
      const [record] = await deadLetters.list({ group: "crashy" });
      expect(record?.reason).toBe(
        "delivered 3 times without an outcome (the consumer crashed or was killed)",
      );
      expect(survived).toBe(true);
    } finally {
      await transport.close();
    }
  }, 240_000);

  it("a message that kills the process takes none of the messages running beside it to the DLQ", async () => {
    const {
      deadLetters,
      transport,
      publish,
      pending: pendingIn,
    } = await itemStream(getRedis().client(), ["beside"]);
    for (const sku of ["i0", "i1", "poison", "i2", "i3", "i4"]) await publish(sku);
    const pending = () => pendingIn("beside");

    try {
      // Restart the slot as a supervisor would while it keeps dying (bounded: at most 8 starts),
      // until settled: something parked and nothing pending (the entries were read at the first start).
      const { exits } = await superviseConsumer(
        { REDIS_URL: getRedis().url, GROUP: "beside", BEHAVIOUR: "exitslow" },
        async () => (await deadLetters.list({ group: "beside" })).length > 0 && (await pending()) === 0,
      );
      const records = await deadLetters.list({ group: "beside" });
      expect(records.map((r) => JSON.parse(r.body).payload.sku)).toEqual(["poison"]);
      expect(records[0]?.reason).toBe(
        "delivered 3 times without an outcome (the consumer crashed or was killed)",
      );
      expect(exits).toEqual([7, 7, 7]);
    } finally {
      await transport.close();
    }
  }, 240_000);
});
