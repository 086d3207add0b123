/**
 * A consumer group destroyed under two running instances (break21 N3). Each instance used to
 * recreate the group after the last entry IT read: the one that had read less recreated it behind
 * the other's reads, and the other's next read then succeeded (no NOGROUP) from that old position,
 * so entries already handled were handed out again. Instance `a` is held on one entry (concurrency
 * 1) while `b` reads further, so which one reads, and so meets NOGROUP first, is up to the test.
 * The group is destroyed once the read-to marks hold every read: a blocking read's mark is written
 * up to `readMarkIntervalMs` later (what is read in that window may be handled again, by design).
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { sleep, waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import type { Delivery, TopicRef } from "../transport.js";
import { eventStreamKey, readToKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport } from "./redis-streams.js";
import type { TransportLogger } from "./redis-streams-support.js";
import { messageOf, uniqueName, uniqueTopic } from "./transport-contract.js";

const quiet: TransportLogger = { debug: () => {}, warn: () => {}, error: () => {} };

/** A promise released from outside: a handler waits on it. */
const gate = () => {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
};

/** Topics of one owner (one read loop); two make a one-slot instance read through the read-few script. */
const topicsOfOneOwner = (n: number): TopicRef[] => {
  const { owner } = uniqueTopic();
  return Array.from({ length: n }, (_, i) => ({ owner, topic: `t${i}.happened` }));
};

describeWithRedis("a consumer group destroyed under two instances", (getRedis) => {
  /**
   * `a` handles 0-4, then holds 5 (its only slot); `b` joins and reads 6-8 and holds 8 when
   * `holdLastOnB`. Both record what they handled; `release` lets a held handler finish.
   */
  const setUp = async (topicCount: number, holdLastOnB: boolean) => {
    const refs = topicsOfOneOwner(topicCount);
    const refOf = (n: number) => refs[n % refs.length]!;
    const group = uniqueName("g");
    const handled: string[] = [];
    const started: number[] = [];
    const holds = new Map([
      [5, gate()],
      [8, gate()],
    ]);
    const instance = async (consumer: string, hold: (n: number) => boolean) => {
      const transport = new RedisStreamsTransport({
        redis: getRedis().client(),
        deadLetters: new MemoryDeadLetterStore(),
        logger: quiet,
        blockMs: 100,
        readMarkIntervalMs: 100,
      });
      const handler = async (delivery: Delivery) => {
        const { n } = JSON.parse(delivery.body) as { n: number };
        started.push(n);
        if (hold(n)) await holds.get(n)!.opened;
        handled.push(`${consumer}:${n}`);
        await delivery.ack();
      };
      await transport.subscribe({ group, consumer, topics: refs, concurrency: 1 }, handler);
      return transport;
    };
    const publish = (transport: RedisStreamsTransport, from: number, to: number) =>
      transport.publish(
        Array.from({ length: to - from + 1 }, (_, i) => messageOf(refOf(from + i), from + i)),
      );
    const a = await instance("a", (n) => n === 5);
    await publish(a, 0, 4);
    await waitFor(() => handled.length === 5, 10_000, "a to handle 0-4");
    await publish(a, 5, 5);
    await waitFor(() => started.includes(5), 10_000, "a to hold 5");
    const b = await instance("b", (n) => holdLastOnB && n === 8);
    await publish(b, 6, 8);
    await waitFor(() => started.includes(8), 10_000, "b to read 6-8");
    const keys = refs.map((ref) => eventStreamKey(ref.owner, ref.topic));
    const admin = getRedis().client();
    const marked = async () => {
      for (const key of keys) {
        const [[last] = []] = await admin.xrevrange(key, "+", "-", "COUNT", 1);
        if ((await admin.get(readToKey(key, group))) !== last) return false;
      }
      return true;
    };
    await waitFor(marked, 10_000, "the read-to marks to record every entry read");
    const destroy = async () => {
      for (const key of keys) await admin.xgroup("DESTROY", key, group);
    };
    const recreated = async () => {
      for (const key of keys) {
        const groups = (await admin.xinfo("GROUPS", key)) as unknown[];
        if (groups.length === 0) return false;
      }
      return true;
    };
    const release = (n: number) => holds.get(n)!.open();
    /**
     * Publishes 9 and 10 through `via`, waits for them, and expects every number from 0 to 10
     * handled exactly once, by whichever instance.
     */
    const expectEachOnceAfter = async (via: RedisStreamsTransport) => {
      await publish(via, 9, 10);
      await waitFor(() => handled.some((h) => h.endsWith(":10")), 10_000, "the entries published after");
      await sleep(500);
      const numbers = handled.map((h) => Number(h.split(":")[1])).sort((x, y) => x - y);
      expect(numbers, `handled: ${handled.join(" ")}`).toEqual(Array.from({ length: 11 }, (_, n) => n));
    };
    const close = async () => {
      for (const n of holds.keys()) release(n);
      await Promise.all([a.close(), b.close()]);
    };
    return { a, b, destroy, recreated, release, expectEachOnceAfter, close };
  };

  /**
   * Who recreates the group: `a` (read less: b holds 8, so only a reads, meets NOGROUP and
   * recreates it once it finishes 5), or `b` (read more: a holds 5, b reads on; a reads after).
   */
  const orders = [
    // Before: 6, 7 and 8 handled again (a recreated the group after 5, its own last read).
    { recreator: "a", name: "the one that read less recreates it first", holdLastOnB: true },
    { recreator: "b", name: "the one that read more recreates it first", holdLastOnB: false },
  ] as const;
  for (const topicCount of [1, 2]) {
    const path = topicCount === 1 ? "blocking read" : "read-few script";
    for (const { recreator, name, holdLastOnB } of orders) {
      it(`${name}: nothing handled twice, nothing published after lost (${path})`, async () => {
        const fixture = await setUp(topicCount, holdLastOnB);
        const { destroy, recreated, release, expectEachOnceAfter, close } = fixture;
        try {
          await destroy();
          if (recreator === "a") release(5);
          await waitFor(recreated, 10_000, `${recreator} to recreate the group`);
          release(recreator === "a" ? 8 : 5);
          await expectEachOnceAfter(fixture[recreator]);
        } finally {
          await close();
        }
      }, 60_000);
    }
  }
});
