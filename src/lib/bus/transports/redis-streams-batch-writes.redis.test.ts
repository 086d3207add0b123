/**
 * Per read batch, not per message: the handlers of entries read together send their scripts in one
 * socket write (CoalescingRedis: one turn's commands in one write) and are acknowledged by one XACK.
 * A guard for issue 14's "one pipelined round trip of Lua calls and one XACK per stream per batch".
 */
import { Socket } from "node:net";
import { afterEach, expect, it, vi } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { recordCommands } from "../../../test-support/redis-monitor.js";
import { waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { LuaScript } from "../../redis/index.js";
import { CoalescingRedis } from "../../runtime/coalescing-redis.js";
import { eventStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

const WRITE = new LuaScript(`redis.call('SET', KEYS[1], ARGV[1]) return 1`);

describeWithRedis("RedisStreamsTransport, a read batch", (getRedis) => {
  afterEach(() => vi.restoreAllMocks());

  it("sends its handlers' scripts in one socket write and acknowledges it with one XACK", async () => {
    const redis = new CoalescingRedis(getRedis().url, { maxRetriesPerRequest: null });
    redis.on("error", () => {});
    const transport = new RedisStreamsTransport({ redis, deadLetters: new MemoryDeadLetterStore() });
    const ref = uniqueTopic();
    const group = uniqueName("g");
    const count = 20;
    await WRITE.run(redis, ["batch:warm"], ["1"]); // loaded: no NOSCRIPT round in the batch
    await transport.ensureGroups(group, [ref]);
    await transport.publish(Array.from({ length: count }, (_, n) => messageOf(ref, n)));

    // What each write of the command connection carries (`_write`/`_writev`: a syscall each).
    const writes: string[] = [];
    type Internal = Record<"_write" | "_writev", (...a: never[]) => void>;
    const proto = Socket.prototype as unknown as Internal;
    for (const name of ["_write", "_writev"] as const) {
      const original = proto[name];
      vi.spyOn(proto, name).mockImplementation(function (this: Socket, ...args: never[]) {
        if (this === redis.stream) writes.push(JSON.stringify(args[0]));
        return original.apply(this, args);
      });
    }
    const recorder = await recordCommands(getRedis().client());
    let handled = 0;
    await transport.subscribe({ group, consumer: "c", topics: [ref], concurrency: 64 }, async (delivery) => {
      await WRITE.run(redis, [`batch:${delivery.deliveryId}`], ["1"]);
      handled++;
      await delivery.ack();
    });
    const pending = async () =>
      Number(
        ((await getRedis().client().xpending(eventStreamKey(ref.owner, ref.topic), group)) as [number])[0],
      );
    await waitFor(
      async () => handled === count && (await pending()) === 0,
      10_000,
      "every entry acknowledged",
    );
    const commands = await recorder.stop();
    await transport.close();
    redis.disconnect();

    const scripts = commands.filter((c) => c.name === "evalsha" && c.args[2]?.startsWith("batch:"));
    const acks = commands.filter((c) => c.name === "xack");
    expect(scripts).toHaveLength(count);
    expect(acks).toHaveLength(1);
    expect(acks[0]?.args.length).toBe(2 + count);
    // The batch's 20 scripts in one write, its XACK in one more.
    expect(writes.filter((w) => w.includes("batch:"))).toHaveLength(1);
    expect(writes.filter((w) => w.includes("xack"))).toHaveLength(1);
  });
});
