import { execFileSync } from "node:child_process";
import { Redis } from "ioredis";
import { describe, expect, it } from "vitest";
import { describeWithRedis, externalRedis } from "../../../test-support/redis.js";
import { sleep, waitFor } from "../../../test-support/wait.js";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import type { TopicRef } from "../transport.js";
import { eventStreamKey } from "./redis-stream-keys.js";
import { RedisStreamsTransport, type RedisStreamsTransportOptions } from "./redis-streams.js";
import {
  failureOf,
  messageOf,
  recorder,
  runTransportContract,
  uniqueName,
  uniqueTopic,
  warningRecorder,
} from "./transport-contract.js";

describeWithRedis("RedisStreamsTransport", (getRedis) => {
  const make = (overrides: Partial<RedisStreamsTransportOptions> = {}) => {
    const deadLetters = new MemoryDeadLetterStore();
    const transport = new RedisStreamsTransport({
      redis: getRedis().client(),
      deadLetters,
      claimIdleMs: 250,
      claimIntervalMs: 50,
      blockMs: 200,
      ...overrides,
    });
    return { transport, deadLetters, cleanup: () => transport.close() };
  };

  runTransportContract("redis-streams", async (tuning = {}) => make(tuning));

  const pendingCount = async (ref: TopicRef, group: string): Promise<number> => {
    const summary = (await getRedis().client().xpending(eventStreamKey(ref.owner, ref.topic), group)) as [
      number,
    ];
    return Number(summary[0]);
  };

  describe("on Redis", () => {
    it.skipIf(externalRedis)(
      "loses no acknowledged message across a Redis restart and keeps consuming",
      async () => {
        const { transport, cleanup } = make();
        const ref = uniqueTopic();
        const got = recorder();
        await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
        const before = Array.from({ length: 30 }, (_, n) => messageOf(ref, n));
        await transport.publish(before);
        await getRedis().restart();
        const after = Array.from({ length: 30 }, (_, n) => messageOf(ref, 100 + n));
        await transport.publish(after);

        const expected = [...before, ...after].map((m) => m.body);
        await waitFor(() => expected.every((body) => got.bodies().includes(body)), 15_000, "every message");
        await cleanup();
      },
    );

    it.skipIf(externalRedis)(
      "takes over no live handler after a Redis restart whose AOF restores idle times that include the outage",
      async () => {
        const ref = uniqueTopic();
        const group = uniqueName("g");
        // A reconnects ~600 ms after Redis is back, B at once: B must not take A's live work
        // meanwhile (A is back well within a takeover time, claimIdleMs).
        const clientRetryingEvery = (ms: number) => {
          const c = new Redis(getRedis().url, { maxRetriesPerRequest: null, retryStrategy: () => ms });
          c.on("error", () => {});
          return c;
        };
        const [slowClient, fastClient] = [clientRetryingEvery(600), clientRetryingEvery(20)];
        const [a, b] = [
          make({ claimIdleMs: 1_000, redis: slowClient }),
          make({ claimIdleMs: 1_000, redis: fastClient }),
        ];
        let done = false;
        const slow = recorder(async (d) => {
          await sleep(4_000);
          await d.ack();
          done = true;
        });
        const other = recorder();
        await a.transport.subscribe({ group, consumer: "a", topics: [ref] }, slow.handler);
        await a.transport.publish([messageOf(ref, 1)]);
        await waitFor(() => slow.deliveries.length >= 1, 8_000, "the slow delivery");
        await b.transport.subscribe({ group, consumer: "b", topics: [ref] }, other.handler);
        await getRedis().kill();
        await sleep(1_500); // the outage: longer than claimIdleMs
        await getRedis().start();
        await waitFor(() => done, 15_000, "the slow handler to finish");
        await sleep(500);
        expect(other.deliveries).toHaveLength(0);
        await a.cleanup();
        await b.cleanup();
        slowClient.disconnect();
        fastClient.disconnect();
      },
    );

    it("does not run an entry whose read returned after a freeze longer than claimIdleMs once another consumer took it", async () => {
      // claimIdleMs 2 s: the reader's BLOCK is capped at 9/20 of it (900 ms), long enough to add an
      // entry while the read waits (at 300 ms the 135 ms block often ended first and the entry was
      // simply read after the freeze, a legitimate first delivery: the test failed under load).
      const claimIdleMs = 2_000;
      const { transport, cleanup } = make({ claimIdleMs, blockMs: 5_000 });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const key = eventStreamKey(ref.owner, ref.topic);
      const got = recorder();
      await transport.subscribe({ group, consumer: "frozen", topics: [ref] }, got.handler);
      await transport.publish([messageOf(ref, 0)]);
      await waitFor(() => got.deliveries.length >= 1, 8_000, "the reader to run");
      const cli = (...args: string[]) =>
        execFileSync("redis-cli", ["-p", String(getRedis().port), ...args], { encoding: "utf8" }).trim();
      const readerBlocked = () =>
        cli("CLIENT", "LIST")
          .split("\n")
          .some((line) => line.includes("cmd=xreadgroup") && / flags=b /.test(line));
      // Freeze this process (as SIGSTOP or a long GC would) once the blocked read has been answered
      // with the entry (its reply waits unread in this process's socket: execFileSync keeps the
      // event loop from turning), while another consumer takes the entry over and finishes it.
      let sent = 1;
      let frozenId: string | undefined;
      for (let attempt = 0; attempt < 5 && frozenId === undefined; attempt++) {
        await waitFor(readerBlocked, 8_000, "the reader blocked in XREADGROUP");
        const id = cli("XADD", key, "*", "b", messageOf(ref, sent++).body);
        const until = Date.now() + 500;
        let taken = false;
        while (!taken && Date.now() < until)
          taken = cli("XPENDING", key, group, "-", "+", "10", "frozen").includes(id);
        if (taken) frozenId = id;
        // The block ended just before the XADD: a plain delivery after this; try again.
        else await waitFor(() => got.deliveries.length >= sent, 8_000, "the entry read after the block");
      }
      expect(frozenId, "the blocked read never took the entry in 5 attempts").toBeDefined();
      const frozenUntil = Date.now() + claimIdleMs + 200;
      while (Date.now() < frozenUntil) {
        /* frozen: longer than claimIdleMs */
      }
      cli("XCLAIM", key, group, "other", String(claimIdleMs), frozenId!);
      expect(cli("XACK", key, group, frozenId!)).toBe("1"); // the other consumer did take it
      // After the stale reply is dealt with, a later entry is delivered: the frozen one never is.
      const later = messageOf(ref, 99);
      await transport.publish([later]);
      await waitFor(() => got.bodies().includes(later.body), 8_000, "a later entry");
      expect(got.deliveries).toHaveLength(sent);
      await cleanup();
    });

    it("does not report a lease lost for entries it has just acknowledged itself", async () => {
      const { warnings, logger } = warningRecorder();
      const { transport, cleanup } = make({ renewIntervalMs: 1, logger });
      const ref = uniqueTopic();
      const got = recorder();
      await transport.subscribe(
        { group: uniqueName("g"), consumer: "c", topics: [ref], concurrency: 32 },
        got.handler,
      );
      await transport.publish(Array.from({ length: 600 }, (_, n) => messageOf(ref, n)));
      await waitFor(() => got.deliveries.length >= 600, 15_000, "every delivery");
      await sleep(50);
      expect(warnings.filter((m) => m.startsWith("lease lost"))).toEqual([]);
      await cleanup();
    });

    it("resumes a restarted consumer's own pending messages without waiting for claimIdleMs", async () => {
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const first = make({ claimIdleMs: 60_000 });
      const crashed = recorder(async () => {});
      await first.transport.subscribe({ group, consumer: "c", topics: [ref] }, crashed.handler);
      await first.transport.publish([messageOf(ref, 1), messageOf(ref, 2)]);
      await waitFor(() => crashed.deliveries.length >= 2, 8_000, "first deliveries");
      await first.cleanup();

      const second = make({ claimIdleMs: 60_000 });
      const resumed = recorder();
      await second.transport.subscribe({ group, consumer: "c", topics: [ref] }, resumed.handler);
      await waitFor(() => resumed.deliveries.length >= 2, 3_000, "resumed deliveries");
      expect(resumed.bodies().sort()).toEqual(crashed.bodies().sort());
      // Their last delivery died with the process: no outcome, so still attempt 1, one silent delivery.
      expect(resumed.deliveries.map((d) => [d.attempt, d.silentDeliveries])).toEqual([
        [1, 1],
        [1, 1],
      ]);
      await second.cleanup();
    });

    const deliveryCounts = async (ref: TopicRef, group: string): Promise<number[]> => {
      const rows = (await getRedis()
        .client()
        .xpending(eventStreamKey(ref.owner, ref.topic), group, "-", "+", 100)) as [
        string,
        string,
        number,
        number,
      ][];
      return rows.map((row) => Number(row[3]));
    };

    it("renews a slow handler's lease without raising the entry's delivery count", async () => {
      const { transport, cleanup } = make();
      const ref = uniqueTopic();
      const group = uniqueName("g");
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const got = recorder(async (d) => {
        await gate;
        await d.ack();
      });
      await transport.subscribe({ group, consumer: "c", topics: [ref] }, got.handler);
      await transport.publish([messageOf(ref, 1)]);
      await waitFor(() => got.deliveries.length >= 1, 8_000, "the delivery");
      await sleep(1_000); // four claimIdleMs: a dozen renewals
      expect(await deliveryCounts(ref, group)).toEqual([1]);
      release();
      await waitFor(async () => (await pendingCount(ref, group)) === 0, 8_000, "the ack");
      expect(got.deliveries).toHaveLength(1);
      await cleanup();
    });

    it("after a reconnect, takes up entries it never received without raising the count of those in flight", async () => {
      const { transport, cleanup } = make({ claimIdleMs: 60_000 });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const got = recorder(async (d) => {
        await gate;
        await d.ack();
      });
      await transport.subscribe({ group, consumer: "c", topics: [ref], concurrency: 3 }, got.handler);
      await transport.publish([messageOf(ref, 1), messageOf(ref, 2)]);
      await waitFor(() => got.deliveries.length >= 2, 8_000, "two deliveries in flight");
      // An entry read in this consumer's name whose reply never arrived (lost with the connection):
      // appended and read in one transaction, so the consumer's own blocked read cannot take it first.
      const key = eventStreamKey(ref.owner, ref.topic);
      const lost = messageOf(ref, 3);
      await getRedis()
        .client()
        .multi()
        .xadd(key, "*", "b", lost.body)
        .xreadgroup("GROUP", group, "c", "COUNT", 1, "STREAMS", key, ">")
        .exec();
      await getRedis().client().call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");

      await waitFor(() => got.bodies().includes(lost.body), 8_000, "the never-received entry");
      expect(got.deliveries.map((d) => [d.attempt, d.silentDeliveries])).toEqual([
        [1, 0],
        [1, 0],
        [1, 0],
      ]);
      expect(await deliveryCounts(ref, group)).toEqual([1, 1, 1]);
      release();
      await waitFor(async () => (await pendingCount(ref, group)) === 0, 8_000, "the acks");
      expect(got.deliveries).toHaveLength(3);
      await cleanup();
    });

    it("keeps taking over dead consumers' entries on other streams when one stream's claim fails", async () => {
      const [broken, healthy] = [uniqueTopic("x"), uniqueTopic("y")];
      const group = uniqueName("g");
      const first = make();
      const dead = recorder(async () => {}); // never settles
      const stopped = await first.transport.subscribe(
        { group, consumer: "dead", topics: [broken, healthy] },
        dead.handler,
      );
      const orphan = messageOf(healthy, 1);
      await first.transport.publish([orphan]);
      await waitFor(() => dead.deliveries.length >= 1, 8_000, "the orphan's first delivery");
      await stopped.stop();

      const { transport, cleanup } = make();
      const heir = recorder();
      await transport.subscribe({ group, consumer: "heir", topics: [broken, healthy] }, heir.handler);
      const brokenKey = eventStreamKey(broken.owner, broken.topic);
      await getRedis().client().del(brokenKey);
      await getRedis().client().set(brokenKey, "not a stream"); // every claim on it fails now
      await waitFor(() => heir.bodies().includes(orphan.body), 8_000, "the takeover on the healthy stream");
      await getRedis().client().del(brokenKey);
      await cleanup();
      await first.cleanup();
    });

    it("reads no more entries than it has free handler slots", async () => {
      const { transport, cleanup } = make({ claimIdleMs: 60_000 });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const got = recorder(async (d) => {
        await gate;
        await d.ack();
      });
      await transport.subscribe({ group, consumer: "c", topics: [ref], concurrency: 2 }, got.handler);
      await transport.publish(Array.from({ length: 10 }, (_, n) => messageOf(ref, n)));
      await waitFor(() => got.deliveries.length >= 2, 8_000, "two handlers");
      await sleep(400);

      expect(got.deliveries).toHaveLength(2);
      expect(await pendingCount(ref, group)).toBe(2);
      release();
      await waitFor(() => got.deliveries.length >= 10, 8_000, "the rest");
      await cleanup();
    });

    it("reads no more entries than it has free handler slots when each of several streams has some waiting", async () => {
      const { transport, cleanup } = make({ claimIdleMs: 60_000 });
      const owner = uniqueName("own");
      const refs = [uniqueTopic("a"), uniqueTopic("b"), uniqueTopic("c")].map((t) => ({ ...t, owner }));
      const group = uniqueName("g");
      await transport.ensureGroups(group, refs);
      await transport.publish(refs.flatMap((ref) => [0, 1].map((n) => messageOf(ref, n))));
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const got = recorder(async (d) => {
        await gate;
        await d.ack();
      });
      await transport.subscribe({ group, consumer: "c", topics: refs, concurrency: 2 }, got.handler);
      await waitFor(() => got.deliveries.length >= 2, 8_000, "two handlers");
      await sleep(400);

      expect(got.deliveries).toHaveLength(2);
      const pending = await Promise.all(refs.map((ref) => pendingCount(ref, group)));
      expect(pending.reduce((a, b) => a + b, 0)).toBe(2);
      release();
      await waitFor(() => got.deliveries.length >= 6, 8_000, "the rest");
      await cleanup();
    });

    it("with fewer free handler slots than streams, handles a message on any stream without waiting out the blocking read", async () => {
      // blockMs 10 s: a message on a stream the pending blocking read does not list would wait it out.
      const { transport, cleanup } = make({ claimIdleMs: 60_000, blockMs: 10_000 });
      const owner = uniqueName("own");
      const [a, b] = [uniqueTopic("a"), uniqueTopic("b")].map((t) => ({ ...t, owner }));
      const got = recorder();
      // One owner: one blocking read for both streams, with a single handler slot.
      await transport.subscribe(
        { group: uniqueName("g"), consumer: "c", topics: [a!, b!], concurrency: 1 },
        got.handler,
      );
      // The read loop alternates which stream a read of one entry lists: whichever it starts with,
      // some of these messages land on a stream the pending read does not list.
      for (const [n, ref] of [a!, a!, b!, b!, a!].entries()) {
        const sentAt = Date.now();
        await transport.publish([messageOf(ref, n)]);
        await waitFor(() => got.deliveries.length > n, 8_000, `message ${n}`);
        expect(Date.now() - sentAt, `message ${n} on ${ref.topic}`).toBeLessThan(2_000);
      }
      await cleanup();
    });

    it("refuses a readLingerMs below 0 or above 1000 ms (a seconds-for-ms typo would stall the reader)", async () => {
      for (const readLingerMs of [-1, 1_001, 60_000, Number.NaN, Number.POSITIVE_INFINITY])
        expect(() => make({ readLingerMs }), String(readLingerMs)).toThrow(
          expect.objectContaining({
            code: "INVALID_TRANSPORT_OPTION",
            message: expect.stringMatching(/readLingerMs/),
          }),
        );
      for (const readLingerMs of [0, 1_000]) await make({ readLingerMs }).cleanup();
    });

    it("after a read of several entries, reads again only readLingerMs later, taking what came meanwhile at once", async () => {
      const { transport, cleanup } = make({ readLingerMs: 600 });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      await transport.ensureGroups(group, [ref]);
      await transport.publish([messageOf(ref, 0), messageOf(ref, 1)]);
      const handledAt = new Map<number, number>();
      const got = recorder(async (d) => {
        handledAt.set(JSON.parse(d.body).n, Date.now());
        await d.ack();
      });
      await transport.subscribe({ group, consumer: "c", topics: [ref] }, got.handler);
      await waitFor(() => handledAt.size >= 2, 8_000, "the first read, of two");
      let lastSentAt = 0;
      for (let n = 2; n < 5; n++) {
        await transport.publish([messageOf(ref, n)]);
        lastSentAt = Date.now();
        await sleep(20);
      }
      await waitFor(() => handledAt.size >= 5, 8_000, "the rest");

      // Not one read per message as they came: one read, after the last of them was sent.
      for (let n = 2; n < 5; n++) expect(handledAt.get(n)!).toBeGreaterThanOrEqual(lastSentAt);
      await cleanup();
    });

    it("does not wait readLingerMs after a read of a single entry (a quiet stream)", async () => {
      const { transport, cleanup } = make({ readLingerMs: 1_000 });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const got = recorder();
      await transport.subscribe({ group, consumer: "c", topics: [ref] }, got.handler);
      await transport.publish([messageOf(ref, 0)]);
      await waitFor(() => got.deliveries.length >= 1, 8_000, "message 0");
      const started = Date.now();
      for (let n = 1; n < 4; n++) {
        await transport.publish([messageOf(ref, n)]);
        await waitFor(() => got.deliveries.length > n, 8_000, `message ${n}`);
      }

      // A linger after each single-entry read would make these three take 3 s or more.
      expect(Date.now() - started).toBeLessThan(2_000);
      await cleanup();
    });

    it("dead-letters with the failures recorded by a consumer that died while waiting to retry", async () => {
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const deadLetters = new MemoryDeadLetterStore();
      const first = make({ deadLetters });
      const dying = recorder((d) => d.retry(failureOf(1), 60_000));
      const subscription = await first.transport.subscribe(
        { group, consumer: "a", topics: [ref] },
        dying.handler,
      );
      await first.transport.publish([messageOf(ref, 1)]);
      await waitFor(() => dying.deliveries.length >= 1, 8_000, "the first attempt");
      await subscription.stop();

      const second = make({ deadLetters });
      const heir = recorder((d) => d.deadLetter({ reason: "poison", failure: failureOf(d.attempt) }));
      await second.transport.subscribe({ group, consumer: "b", topics: [ref] }, heir.handler);
      await waitFor(() => heir.deliveries.length >= 1, 8_000, "the takeover");
      await waitFor(async () => (await deadLetters.list({ group })).length > 0, 8_000, "the record");

      const [record] = await deadLetters.list({ group });
      expect(heir.deliveries[0]?.attempt).toBe(2);
      expect(record?.attempts.map((a) => a.attempt)).toEqual([1, 2]);
      await waitFor(async () => (await pendingCount(ref, group)) === 0, 8_000, "the ack");
      await first.cleanup();
      await second.cleanup();
    });

    it("keeps an entry pending when the dead-letter write fails, and dead-letters it on redelivery", async () => {
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const deadLetters = new MemoryDeadLetterStore();
      let failNext = true;
      const add = deadLetters.add.bind(deadLetters);
      deadLetters.add = async (record) => {
        if (!failNext) return add(record);
        failNext = false;
        throw new Error("dead-letter store down");
      };
      const { transport, cleanup } = make({ deadLetters });
      const got = recorder((d) =>
        d.deadLetter({ reason: "bad", failure: failureOf(d.attempt) }).catch(() => undefined),
      );
      await transport.subscribe({ group, consumer: "c", topics: [ref] }, got.handler);
      await transport.publish([messageOf(ref, 1)]);

      await waitFor(() => got.deliveries.length >= 2, 8_000, "the redelivery");
      await waitFor(async () => (await pendingCount(ref, group)) === 0, 8_000, "the ack");
      // The failed dead-letter write was no outcome: the redelivery is attempt 1 after a silent one.
      expect(got.deliveries.map((d) => [d.attempt, d.silentDeliveries])).toEqual([
        [1, 0],
        [1, 1],
      ]);
      expect(await deadLetters.list({ group })).toHaveLength(1);
      await cleanup();
    });

    it("hands a malformed entry through untouched and keeps consuming", async () => {
      const { transport, cleanup } = make();
      const ref = uniqueTopic();
      const got = recorder();
      await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
      const key = eventStreamKey(ref.owner, ref.topic);
      const redis = getRedis().client();
      await redis.xadd(key, "*", "b", "not json {");
      await redis.xadd(key, "*", "unexpected", "field");
      const valid = messageOf(ref, 1);
      await transport.publish([valid]);

      await waitFor(() => got.deliveries.length >= 3, 8_000, "three deliveries");
      expect(got.bodies()).toEqual(["not json {", "", valid.body]);
      await cleanup();
    });
  });

  describe("trim()", () => {
    it("removes acked entries but never a pending one, which stays claimable", async () => {
      const { transport, cleanup } = make();
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const messages = Array.from({ length: 5 }, (_, n) => messageOf(ref, n));
      const stuck = messages[2]!;
      const first = recorder(async (d) => (d.body === stuck.body ? undefined : d.ack()));
      const subscription = await transport.subscribe({ group, consumer: "a", topics: [ref] }, first.handler);
      await transport.publish(messages);
      await waitFor(() => first.deliveries.length >= 5, 8_000, "five deliveries");
      await subscription.stop();

      expect(await transport.trim([ref])).toBe(2);
      const left = await getRedis().client().xrange(eventStreamKey(ref.owner, ref.topic), "-", "+");
      expect(left.map(([, fields]) => fields[1])).toEqual(messages.slice(2).map((m) => m.body));

      const heir = recorder();
      await transport.subscribe({ group, consumer: "b", topics: [ref] }, heir.handler);
      await waitFor(() => heir.deliveries.length >= 1, 8_000, "the pending entry");
      expect(heir.deliveries[0]).toMatchObject({ body: stuck.body, attempt: 1, silentDeliveries: 1 });
      await cleanup();
    });

    it("keeps about the newest entries of a stream no group reads, and all of it when told to", async () => {
      const ref = uniqueTopic();
      const key = eventStreamKey(ref.owner, ref.topic);
      const keepAll = make({ retainWithoutGroups: 0 });
      const published = Array.from({ length: 500 }, (_, n) => messageOf(ref, n));
      await keepAll.transport.publish(published);
      expect(await keepAll.transport.trim([ref])).toBe(0);
      await keepAll.cleanup();
      const capped = make({ retainWithoutGroups: 10 });
      const removed = await capped.transport.trim([ref]);
      const left = await getRedis().client().xlen(key);
      expect(removed).toBeGreaterThan(0);
      expect(left).toBeGreaterThanOrEqual(10);
      expect(left + removed).toBe(500);
      const newest = await getRedis().client().xrevrange(key, "+", "-", "COUNT", 1);
      expect(newest[0]?.[1][1]).toBe(published[499]!.body);
      await capped.cleanup();
    });

    it("removes every entry once all groups acked them, and nothing a group has not read", async () => {
      const { transport, cleanup } = make();
      const ref = uniqueTopic();
      const [reader, idle] = [uniqueName("reader"), uniqueName("idle")];
      await transport.ensureGroups(idle, [ref]);
      const got = recorder();
      await transport.subscribe({ group: reader, consumer: "c", topics: [ref] }, got.handler);
      await transport.publish(Array.from({ length: 4 }, (_, n) => messageOf(ref, n)));
      await waitFor(() => got.deliveries.length >= 4, 8_000, "four deliveries");
      await waitFor(async () => (await pendingCount(ref, reader)) === 0, 8_000, "acks");

      expect(await transport.trim([ref])).toBe(0);
      await getRedis().client().xgroup("DESTROY", eventStreamKey(ref.owner, ref.topic), idle);
      expect(await transport.trim([ref])).toBe(4);
      await cleanup();
    });
  });
});
