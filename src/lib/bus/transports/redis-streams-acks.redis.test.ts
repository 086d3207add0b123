/** AckBatcher: one turn's acks, one XACK per stream, each ack settled by its own stream's XACK. */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { recordCommands } from "../../../test-support/redis-monitor.js";
import { AckBatcher } from "./redis-streams-acks.js";
import { uniqueName } from "./transport-contract.js";

describeWithRedis("AckBatcher", (getRedis) => {
  async function pendingEntries(stream: string, group: string, n: number): Promise<string[]> {
    const redis = getRedis().client();
    await redis.xgroup("CREATE", stream, group, "0", "MKSTREAM");
    for (let i = 0; i < n; i++) await redis.xadd(stream, "*", "b", String(i));
    await redis.xreadgroup("GROUP", group, "c", "COUNT", n, "STREAMS", stream, ">");
    return ((await redis.xrange(stream, "-", "+")) as [string, string[]][]).map(([id]) => id);
  }

  it("acknowledges one turn's acks of several streams with one XACK each, cleanup keys deleted", async () => {
    const redis = getRedis().client();
    const group = uniqueName("g");
    const [a, b] = [uniqueName("{s}:a"), uniqueName("{s}:b")];
    const idsA = await pendingEntries(a, group, 3);
    const idsB = await pendingEntries(b, group, 2);
    await redis.set("{s}:cleanup", "x");
    const acks = new AckBatcher(redis, group);
    const recorder = await recordCommands(getRedis().client());
    await Promise.all([
      ...idsA.map((id) => acks.ack(a, id)),
      ...idsB.map((id, i) => acks.ack(b, id, i === 0 ? ["{s}:cleanup"] : undefined)),
    ]);
    const commands = await recorder.stop();
    expect(commands.filter((c) => c.name === "xack").map((c) => c.args.length)).toEqual([2 + 3, 2 + 2]);
    expect(Number(((await redis.xpending(a, group)) as [number])[0])).toBe(0);
    expect(Number(((await redis.xpending(b, group)) as [number])[0])).toBe(0);
    expect(await redis.exists("{s}:cleanup")).toBe(0);
  });

  it("rejects only the acks of a stream whose XACK failed; the other stream's are acknowledged", async () => {
    const redis = getRedis().client();
    const group = uniqueName("g");
    const good = uniqueName("{s}:good");
    const broken = uniqueName("{s}:broken");
    const ids = await pendingEntries(good, group, 2);
    await redis.set(broken, "not a stream"); // XACK on it: WRONGTYPE
    const acks = new AckBatcher(redis, group);
    const outcomes = await Promise.allSettled([
      acks.ack(good, ids[0]!),
      acks.ack(broken, "1-1", ["{s}:other-cleanup"]),
      acks.ack(good, ids[1]!),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(String((outcomes[1] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
    expect(Number(((await redis.xpending(good, group)) as [number])[0])).toBe(0);
  });

  it("rejects every ack of a turn when the connection is closed", async () => {
    const redis = getRedis().client();
    const group = uniqueName("g");
    const closed = redis.duplicate();
    await closed.quit();
    const acks = new AckBatcher(closed, group);
    const outcomes = await Promise.allSettled([
      acks.ack("{s}:x", "1-1"),
      acks.ack("{s}:y", "1-1", ["{s}:z"]),
      acks.ack("{s}:x", "1-2"),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["rejected", "rejected", "rejected"]);
  });
});
