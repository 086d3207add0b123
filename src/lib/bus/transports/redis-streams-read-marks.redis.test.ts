/** The read-to marks and the recreation of a missing group at them, on a real Redis. */
import type { Redis } from "ioredis";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { recordCommands } from "../../../test-support/redis-monitor.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { eventStreamKey, READ_TO_TTL_MS, readToKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { recreateGroup, sendReadMarks } from "./redis-streams-read-marks.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

const groupAt = async (redis: Redis, stream: string, group: string) => {
  const groups = (await redis.xinfo("GROUPS", stream)) as unknown[][];
  const found = groups.find((g) => g[1] === group);
  return found ? String(found[found.indexOf("last-delivered-id") + 1]) : undefined;
};

/** Raises the mark and waits for it (sendReadMarks does not wait). */
const mark = async (redis: Redis, stream: string, group: string, id: string) => {
  const failures: unknown[] = [];
  sendReadMarks(redis, group, new Map([[stream, id]]), (error) => failures.push(error));
  await redis.ping();
  expect(failures).toEqual([]);
  return redis.get(readToKey(stream, group));
};

describeWithRedis("read-to marks", (getRedis) => {
  const setUp = async (ids: readonly string[]) => {
    const redis = getRedis().client();
    const stream = `{${uniqueName("o")}}:ev:t.happened`;
    for (const id of ids) await redis.xadd(stream, id, "b", id);
    return { redis, stream, group: uniqueName("g") };
  };

  it("only rise, and expire READ_TO_TTL_MS after the last read", async () => {
    const { redis, stream, group } = await setUp(["5-0", "9-0"]);
    expect(await mark(redis, stream, group, "9-0")).toBe("9-0");
    expect(await mark(redis, stream, group, "5-0")).toBe("9-0");
    const ttl = await redis.pttl(readToKey(stream, group));
    expect(ttl).toBeGreaterThan(READ_TO_TTL_MS - 60_000);
    expect(ttl).toBeLessThanOrEqual(READ_TO_TTL_MS);
  });

  it("are replaced when above every id of the stream (deleted and written again with lower ids)", async () => {
    const { redis, stream, group } = await setUp(["50-0"]);
    await mark(redis, stream, group, "50-0");
    await redis.multi().del(stream).xadd(stream, "3-0", "b", "x").exec();
    expect(await mark(redis, stream, group, "3-0")).toBe("3-0");
  });

  it("a missing group is recreated at the mark when another instance read further than the finder", async () => {
    const { redis, stream, group } = await setUp(["100-0", "150-0", "160-0"]);
    await mark(redis, stream, group, "150-0");
    expect(await recreateGroup(redis, stream, group, "100-0")).toEqual({ outcome: "created", id: "150-0" });
    expect(await groupAt(redis, stream, group)).toBe("150-0");
  });

  it("a missing group is recreated at the finder's own last read when it is further than the mark", async () => {
    const { redis, stream, group } = await setUp(["100-0", "150-0"]);
    await mark(redis, stream, group, "100-0");
    expect(await recreateGroup(redis, stream, group, "150-0")).toEqual({ outcome: "created", id: "150-0" });
  });

  it("a group recreated behind the mark is moved forward, one ahead of it is left alone", async () => {
    const { redis, stream, group } = await setUp(["100-0", "150-0", "160-0"]);
    await mark(redis, stream, group, "150-0");
    await redis.xgroup("CREATE", stream, group, "100-0");
    expect(await recreateGroup(redis, stream, group, "100-0")).toEqual({ outcome: "moved", id: "150-0" });
    await redis.xgroup("SETID", stream, group, "160-0");
    expect(await recreateGroup(redis, stream, group, "100-0")).toEqual({ outcome: "exists", id: "160-0" });
    expect(await groupAt(redis, stream, group)).toBe("160-0");
  });

  it("a stream deleted and written again with lower ids than the mark is read from its start", async () => {
    const { redis, stream, group } = await setUp(["500-0"]);
    await mark(redis, stream, group, "500-0");
    await redis.multi().del(stream).xadd(stream, "3-0", "b", "x").exec();
    expect(await recreateGroup(redis, stream, group, "500-0")).toEqual({ outcome: "created", id: "0" });
  });

  it("an own last read above the stream's last id, with no mark (lost with Redis's last writes), is clamped to it", async () => {
    const { redis, stream, group } = await setUp(["7-0", "8-0"]);
    expect(await recreateGroup(redis, stream, group, "20-0")).toEqual({ outcome: "created", id: "8-0" });
  });

  it("a stream that is gone is created with the group at 0", async () => {
    const { redis, stream, group } = await setUp([]);
    expect(await recreateGroup(redis, stream, group, "20-0")).toEqual({ outcome: "created", id: "0" });
    expect(await redis.exists(stream)).toBe(1);
  });

  it("blocking reads within one interval write the mark at most twice: at once, then the latest read when it ends", async () => {
    const intervalMs = 3_000;
    const admin = getRedis().client();
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters: new MemoryDeadLetterStore(),
      blockMs: 100,
      readMarkIntervalMs: intervalMs,
    });
    const ref = uniqueTopic();
    const group = uniqueName("g");
    const stream = eventStreamKey(ref.owner, ref.topic);
    const markKey = readToKey(stream, group);
    let handled = 0;
    try {
      await transport.subscribe({ group, consumer: "c", topics: [ref], concurrency: 1 }, async (d) => {
        handled++;
        await d.ack();
      });
      const recorder = await recordCommands(admin);
      const startedAt = performance.now();
      // One entry per read (the worst case of issue 14): each published once the last is handled.
      const reads = 8;
      for (let n = 0; n < reads; n++) {
        await transport.publish([messageOf(ref, n)]);
        await waitFor(() => handled === n + 1, 10_000, `entry ${n} handled`);
      }
      const markAfterReads = await admin.get(markKey);
      const readsTookMs = performance.now() - startedAt;
      const ids = (await admin.xrange(stream, "-", "+")).map(([id]) => id);
      await waitFor(async () => (await admin.get(markKey)) === ids.at(-1), 10_000, "the trailing mark write");
      const commands = await recorder.stop();
      expect(readsTookMs, "the reads must fit in one interval for this test").toBeLessThan(intervalMs);
      // Before: one write per read (8). Now the first read's at once, the rest in one trailing write.
      const writes = commands.filter((c) => c.name === "set" && c.args[0] === markKey);
      expect(writes.map((w) => w.args[1])).toEqual([ids[0], ids.at(-1)]);
      expect(markAfterReads).toBe(ids[0]);
    } finally {
      await transport.close();
    }
  }, 60_000);
});
