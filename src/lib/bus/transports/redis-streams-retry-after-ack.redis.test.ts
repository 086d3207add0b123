/**
 * break22 F4: after a takeover race (a consumer frozen past claimIdleMs, then back), the consumer
 * that took the entry recorded failures, the one it was taken from acked it, and the records stayed
 * for their 7-day TTL: the ack cleans only what a redelivered delivery knows of, and the taker's
 * scheduled retry found the entry no longer pending and dropped it silently. Now that retry deletes
 * the entry's records when the entry is not pending at all.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { eventStreamKey, failuresKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { silentLogger } from "./redis-streams-support.js";
import { failureOf, messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

describeWithRedis("a scheduled retry of an entry acked elsewhere meanwhile", (getRedis) => {
  it(
    "deletes the entry's failure records instead of leaving them to their TTL",
    { timeout: 30_000 },
    async () => {
      const redis = getRedis().client();
      const transport = new RedisStreamsTransport({
        redis,
        deadLetters: new MemoryDeadLetterStore(),
        claimIdleMs: 60_000,
        blockMs: 200,
        logger: silentLogger,
      });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const stream = eventStreamKey(ref.owner, ref.topic);
      const ids: string[] = [];
      let runs = 0;
      await transport.subscribe({ group, consumer: "taker", topics: [ref] }, async (d) => {
        runs++;
        ids.push(d.deliveryId);
        await d.retry(failureOf(d.attempt, "must wait"), 500);
      });
      await transport.publish([messageOf(ref, 1)]);
      await waitFor(() => ids.length === 1, 10_000, "the first attempt");
      const id = ids[0]!;
      await waitFor(
        async () => (await redis.llen(failuresKey(stream, group, id))) === 1,
        5_000,
        "its failure record",
      );
      // The consumer it was taken from finishes and acks it (XACK needs no ownership).
      expect(await redis.xack(stream, group, id)).toBe(1);
      await waitFor(
        async () => (await redis.exists(failuresKey(stream, group, id))) === 0,
        10_000,
        "the records deleted",
      );
      expect(runs).toBe(1);
      await transport.close();
    },
  );
});
