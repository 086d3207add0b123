/** What the Redis Streams transport asks Redis while nothing happens. */
import { describe, expect, it } from "vitest";
import { recordCommands } from "../../../test-support/redis-monitor.js";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { claimIdleScript } from "./redis-streams-scripts.js";
import { messageOf, recorder, uniqueName, uniqueTopic } from "./transport-contract.js";

/** Calls per command since the last CONFIG RESETSTAT (INFO's own call is counted after its reply). */
function callsByCommand(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

describeWithRedis("the Redis Streams transport at idle", (getRedis) => {
  describe("an idle claim round (nothing idle long enough to take over)", () => {
    it("asks Redis for nothing but XPENDING: no INFO per stream per round", async () => {
      const redis = getRedis().client();
      const stream = "{claim-test}:ev:quiet";
      await redis.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
      await redis.xadd(stream, "*", "f", "v");
      // Pending, but handled just now: not idle for the 60 s the round asks.
      await redis.xreadgroup("GROUP", "g", "c1", "COUNT", 10, "STREAMS", stream, ">");
      await redis.config("RESETSTAT");
      for (let round = 0; round < 3; round++) {
        const reply = await claimIdleScript.run(redis, [stream], ["g", "c2", 60_000, "0-0", 64]);
        expect(reply).toEqual(["0-0", [], [], []]);
      }
      const calls = callsByCommand(await redis.info("commandstats"));
      expect(calls.get("info") ?? 0).toBe(0);
      expect(calls.get("xpending")).toBe(3);
    });
  });

  describe("an idle reader", () => {
    it("blocks 2/5 of claimIdleMs per read, not blockMs, and still gets a new entry at once", async () => {
      const redis = getRedis().client();
      const transport = new RedisStreamsTransport({
        redis,
        deadLetters: new MemoryDeadLetterStore(),
        claimIdleMs: 20_000,
        blockMs: 1_000,
      });
      try {
        const owner = uniqueTopic().owner;
        const refs = [
          { owner, topic: "a.happened" },
          { owner, topic: "b.happened" },
        ];
        const consumer = uniqueName("c");
        const got = recorder();
        const recording = await recordCommands(redis);
        await transport.subscribe({ group: uniqueName("g"), consumer, topics: refs }, got.handler);
        const blockingReads = () =>
          recording.commands.filter(
            (c) => c.name === "xreadgroup" && c.args.includes(consumer) && c.args.includes("BLOCK"),
          );
        await waitFor(() => blockingReads().length >= 1, 10_000, "the reader's first blocking read");
        const sentAt = performance.now();
        await transport.publish([messageOf(refs[1]!, 1)]);
        await waitFor(() => got.deliveries.length === 1, 10_000, "the new entry");
        const waited = performance.now() - sentAt;
        const reads = await recording.stop();
        const blocks = reads
          .filter((c) => c.name === "xreadgroup" && c.args.includes(consumer) && c.args.includes("BLOCK"))
          .map((c) => c.args[c.args.indexOf("BLOCK") + 1]);
        expect(blocks[0]).toBe("8000");
        // Ended by the entry, not by the block's timeout (8 s).
        expect(waited).toBeLessThan(4_000);
      } finally {
        await transport.close();
      }
    });
  });

  describe("a reader whose blockMs is above the caps (break-bus F4)", () => {
    /** The BLOCK argument of the consumer's first blocking read. */
    const firstBlock = async (
      tuning: { claimIdleMs: number; deadConsumerMs?: number },
      throttled: boolean,
    ) => {
      const redis = getRedis().client();
      const transport = new RedisStreamsTransport({
        redis,
        deadLetters: new MemoryDeadLetterStore(),
        blockMs: 1_000,
        ...tuning,
      });
      try {
        const consumer = uniqueName("c");
        const recording = await recordCommands(redis);
        const throttle = { tryTake: (max: number) => max, giveBack: () => {}, waitMs: () => 0 };
        await transport.subscribe(
          { group: uniqueName("g"), consumer, topics: [uniqueTopic()], ...(throttled ? { throttle } : {}) },
          recorder().handler,
        );
        const blocking = () =>
          recording.commands.filter(
            (c) => c.name === "xreadgroup" && c.args.includes(consumer) && c.args.includes("BLOCK"),
          );
        const [read] = await waitFor(
          () => (blocking().length > 0 ? blocking() : undefined),
          10_000,
          "a read",
        );
        await recording.stop();
        return Number(read!.args[read!.args.indexOf("BLOCK") + 1]);
      } finally {
        await transport.close();
      }
    };

    it("blocks under half of claimIdleMs, idle or rate-limited", async () => {
      expect(await firstBlock({ claimIdleMs: 1_500 }, false)).toBeLessThan(750);
      expect(await firstBlock({ claimIdleMs: 1_500 }, true)).toBeLessThan(750);
    });

    it("blocks at most a quarter of deadConsumerMs", async () => {
      expect(await firstBlock({ claimIdleMs: 20_000, deadConsumerMs: 2_000 }, false)).toBeLessThanOrEqual(
        500,
      );
    });
  });
});
