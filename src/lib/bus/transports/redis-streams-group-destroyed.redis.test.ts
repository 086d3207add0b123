/**
 * A consumer group that vanishes under a running subscription (break20 F10): an operator's
 * `XGROUP DESTROY` while an instance still runs, or a Redis that came back without its data. The
 * group used to be recreated at `0`, so every entry still in the stream was handled again, with
 * one warn line. Now it is recreated after the last entry this subscription read, logged at error.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { sleep, waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import type { Delivery } from "../transport.js";
import { eventStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import type { TransportLogger } from "./redis-streams-support.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("a consumer group gone while a subscription runs", (getRedis) => {
  const setUp = async () => {
    const errors: string[] = [];
    const logger: TransportLogger = {
      debug: () => {},
      warn: () => {},
      error: (_object, message) => errors.push(message),
    };
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      logger,
      blockMs: 100,
    });
    const ref = uniqueTopic();
    const group = uniqueName("g");
    const handled: number[] = [];
    const handler = async (delivery: Delivery) => {
      handled.push((JSON.parse(delivery.body) as { n: number }).n);
      await delivery.ack();
    };
    await transport.subscribe({ group, consumer: "c", topics: [ref] }, handler);
    return { transport, ref, group, key: eventStreamKey(ref.owner, ref.topic), handled, errors };
  };

  it("destroyed (XGROUP DESTROY): recreated after what it read, the retained entries not handled again, logged at error", async () => {
    const { transport, ref, group, key, handled, errors } = await setUp();
    const redis = getRedis().client();
    try {
      await transport.publish([0, 1, 2, 3, 4].map((n) => messageOf(ref, n)));
      await waitFor(() => handled.length === 5, 5_000, "the first five");
      await redis.xgroup("DESTROY", key, group);
      await waitFor(
        async () => ((await redis.xinfo("GROUPS", key)) as unknown[]).length === 1,
        5_000,
        "the group to be recreated",
      );
      await transport.publish([messageOf(ref, 5)]);
      await waitFor(() => handled.includes(5), 5_000, "the message published after");
      await sleep(300);
      // Before: [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5], the retained stream replayed from 0.
      expect(handled).toEqual([0, 1, 2, 3, 4, 5]);
      expect(errors.some((m) => m.startsWith("consumer group was missing"))).toBe(true);
    } finally {
      await transport.close();
    }
  }, 30_000);

  it("stream gone and written again before the group is recreated (Redis lost its data): the new entries are handled", async () => {
    const { transport, ref, key, handled } = await setUp();
    const redis = getRedis().client();
    try {
      await transport.publish([messageOf(ref, 0)]);
      await waitFor(() => handled.length === 1, 5_000, "the first");
      // As a Redis restarted without its data, whose producers published before this consumer's read.
      const lost = messageOf(ref, 1);
      await redis.multi().del(key).xadd(key, "*", "b", lost.body).exec();
      await waitFor(() => handled.includes(1), 5_000, "the entry added to the recreated stream");
      expect(handled).toEqual([0, 1]);
    } finally {
      await transport.close();
    }
  }, 30_000);
});
