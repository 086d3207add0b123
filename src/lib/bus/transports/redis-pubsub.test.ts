import { describe, expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { sleep, waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { RedisPubSubTransport } from "./redis-pubsub.js";
import { messageOf, recorder, runTransportContract, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("RedisPubSubTransport", (getRedis) => {
  const make = () => {
    const deadLetters = new MemoryDeadLetterStore();
    const transport = new RedisPubSubTransport({ redis: getRedis().client(), deadLetters });
    return { transport, deadLetters, cleanup: () => transport.close() };
  };

  runTransportContract("redis-pubsub", async () => make(), {
    durable: false,
    competingConsumers: false,
    quietMs: 300,
  });

  describe("at-most-once", () => {
    it("loses a message published while nobody listens", async () => {
      const { transport, cleanup } = make();
      const ref = uniqueTopic();
      const [lost, heard] = [messageOf(ref, 1), messageOf(ref, 2)];
      await transport.publish([lost]);
      const got = recorder();
      await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
      await transport.publish([heard]);

      await waitFor(() => got.deliveries.length >= 1, 8_000, "the second message");
      await sleep(200);
      expect(got.bodies()).toEqual([heard.body]);
      await cleanup();
    });

    it("gives every consumer of one group every message (no competing consumers)", async () => {
      const { transport, cleanup } = make();
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const [a, b] = [recorder(), recorder()];
      await transport.subscribe({ group, consumer: "a", topics: [ref] }, a.handler);
      await transport.subscribe({ group, consumer: "b", topics: [ref] }, b.handler);
      const message = messageOf(ref, 1);
      await transport.publish([message]);

      await waitFor(() => a.deliveries.length >= 1 && b.deliveries.length >= 1, 8_000, "both consumers");
      expect([a.bodies(), b.bodies()]).toEqual([[message.body], [message.body]]);
      expect(transport.durable).toBe(false);
      await cleanup();
    });
  });
});
