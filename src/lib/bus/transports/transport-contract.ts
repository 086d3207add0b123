/**
 * The behaviour every Transport promises, as one suite each transport's test file runs:
 * `runTransportContract("memory", factory, { durable: true, competingConsumers: true })`.
 * Cases that need durability (messages kept for absent consumers, takeover of a dead consumer's
 * messages) or competing consumers only run when the transport claims them.
 */
import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { sleep, waitFor } from "../../../test-support/wait.js";
import { type DeadLetterStore, deadLetterId } from "../../dlq/dead-letter-store.js";
import type {
  AttemptFailure,
  Delivery,
  DeliveryHandler,
  OutgoingMessage,
  ReadThrottle,
  TopicRef,
  Transport,
} from "../transport.js";

export interface TransportFixture {
  transport: Transport;
  deadLetters: DeadLetterStore;
  cleanup: () => Promise<void>;
}

export interface TransportCapabilities {
  /** Keeps messages for groups without a live consumer and takes over dead consumers' messages. */
  durable: boolean;
  /** Consumers of one group share its messages (otherwise every subscriber gets every message). */
  competingConsumers: boolean;
  /** How long "nothing more arrives" is watched; must exceed the factory's claimIdleMs (default 800). */
  quietMs?: number;
}

export function uniqueTopic(label = "t"): TopicRef {
  const id = randomUUID().slice(0, 8);
  return { owner: `own${id}`, topic: `${label}${id}.happened` };
}

export const uniqueName = (label: string): string => `${label}-${randomUUID().slice(0, 8)}`;

export function messageOf(ref: TopicRef, n: number): OutgoingMessage {
  const id = randomUUID();
  return { ...ref, id, body: JSON.stringify({ n, id }) };
}

export function failureOf(attempt: number, message = `failure ${attempt}`): AttemptFailure {
  return { attempt, at: new Date().toISOString(), durationMs: 1, error: { name: "Error", message } };
}

/** A logger that keeps the messages of its warnings (`warnings`) and drops everything else. */
export function warningRecorder() {
  const warnings: string[] = [];
  const logger = {
    debug: () => {},
    info: () => {},
    warn: (_: object, message?: string) => void warnings.push(message ?? ""),
    error: () => {},
  };
  return { warnings, logger };
}

/** A promise a handler awaits to hang, until the test calls `release` (in its `finally`). */
export function hangUntilReleased() {
  let release: () => void = () => {};
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release: () => release() };
}

/** A handler that records every delivery and acks it unless `react` settles it. */
export function recorder(react?: (delivery: Delivery) => Promise<void>) {
  const deliveries: Delivery[] = [];
  const handler: DeliveryHandler = async (delivery) => {
    deliveries.push(delivery);
    if (react) await react(delivery);
    else await delivery.ack();
  };
  return { deliveries, handler, bodies: () => deliveries.map((d) => d.body) };
}

/** Timing a test needs from its transport (each factory maps these onto its own options). */
export interface TransportTuning {
  claimIdleMs?: number;
  maxLeaseMs?: number;
  deadConsumerMs?: number;
}

export function runTransportContract(
  name: string,
  factory: (tuning?: TransportTuning) => Promise<TransportFixture>,
  capabilities: TransportCapabilities = { durable: true, competingConsumers: true },
): void {
  const quietMs = capabilities.quietMs ?? 800;
  const durableIt = capabilities.durable ? it : it.skip;
  const competingIt = capabilities.competingConsumers ? it : it.skip;

  describe(`${name}: transport contract`, () => {
    const cleanups: (() => Promise<void>)[] = [];
    const setup = async (tuning?: TransportTuning): Promise<TransportFixture> => {
      const fixture = await factory(tuning);
      cleanups.push(fixture.cleanup);
      return fixture;
    };
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    it("delivers a published message to a subscriber of its topic, same body, attempt 1", async () => {
      const { transport } = await setup();
      const [wanted, other] = [uniqueTopic("a"), uniqueTopic("b")];
      const got = recorder();
      await transport.subscribe({ group: uniqueName("g"), consumer: "c1", topics: [wanted] }, got.handler);
      const message = messageOf(wanted, 1);
      await transport.publish([messageOf(other, 0), message]);

      await waitFor(() => got.deliveries.length === 1, 8_000, "the delivery");
      const [delivery] = got.deliveries;
      expect(delivery).toMatchObject({
        topic: wanted.topic,
        owner: wanted.owner,
        body: message.body,
        attempt: 1,
      });
      expect(delivery?.deliveryId).toBeTruthy();
      await sleep(100);
      expect(got.bodies()).toEqual([message.body]);
    });

    it("gives every group every message", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const [first, second] = [recorder(), recorder()];
      await transport.subscribe({ group: uniqueName("g1"), consumer: "c", topics: [ref] }, first.handler);
      await transport.subscribe({ group: uniqueName("g2"), consumer: "c", topics: [ref] }, second.handler);
      const messages = [1, 2, 3, 4, 5].map((n) => messageOf(ref, n));
      await transport.publish(messages);

      await waitFor(
        () => first.deliveries.length >= 5 && second.deliveries.length >= 5,
        8_000,
        "both groups",
      );
      const expected = messages.map((m) => m.body).sort();
      expect(first.bodies().sort()).toEqual(expected);
      expect(second.bodies().sort()).toEqual(expected);
    });

    competingIt("splits a group's messages between its consumers, each message to one of them", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const slowAck = async (d: Delivery) => {
        await sleep(2);
        await d.ack();
      };
      const [a, b] = [recorder(slowAck), recorder(slowAck)];
      await transport.subscribe({ group, consumer: "a", topics: [ref], concurrency: 4 }, a.handler);
      await transport.subscribe({ group, consumer: "b", topics: [ref], concurrency: 4 }, b.handler);
      const messages = Array.from({ length: 200 }, (_, n) => messageOf(ref, n));
      for (let i = 0; i < messages.length; i += 50) await transport.publish(messages.slice(i, i + 50));

      await waitFor(() => a.deliveries.length + b.deliveries.length >= 200, 8_000, "all 200");
      await sleep(100);
      const all = [...a.bodies(), ...b.bodies()];
      expect(all).toHaveLength(200);
      expect(new Set(all)).toEqual(new Set(messages.map((m) => m.body)));
      expect(a.deliveries.length).toBeGreaterThan(0);
      expect(b.deliveries.length).toBeGreaterThan(0);
    });

    durableIt(
      "keeps messages published after ensureGroups for a consumer that subscribes later",
      async () => {
        const { transport } = await setup();
        const ref = uniqueTopic();
        const group = uniqueName("g");
        await transport.ensureGroups(group, [ref]);
        const messages = [messageOf(ref, 1), messageOf(ref, 2)];
        await transport.publish(messages);

        const got = recorder();
        await transport.subscribe({ group, consumer: "late", topics: [ref] }, got.handler);
        await waitFor(() => got.deliveries.length >= 2, 8_000, "both kept messages");
        expect(got.bodies().sort()).toEqual(messages.map((m) => m.body).sort());
        expect(got.deliveries.map((d) => d.attempt)).toEqual([1, 1]);
      },
    );

    it("retry delivers the message again after the delay with the next attempt number", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const retryAt: number[] = [];
      const got = recorder(async (d) => {
        retryAt.push(Date.now());
        if (d.attempt === 1) await d.retry(failureOf(1), 150);
        else await d.ack();
      });
      await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
      const message = messageOf(ref, 1);
      await transport.publish([message]);

      await waitFor(() => got.deliveries.length >= 2, 8_000, "the second attempt");
      const [first, second] = got.deliveries;
      expect([first?.attempt, second?.attempt]).toEqual([1, 2]);
      expect(second?.body).toBe(message.body);
      expect(second?.deliveryId).toBe(first?.deliveryId);
      expect((retryAt[1] ?? 0) - (retryAt[0] ?? 0)).toBeGreaterThanOrEqual(120);
      await sleep(quietMs);
      expect(got.deliveries).toHaveLength(2);
    });

    it("deadLetter parks the message with every attempt's failure, and only later messages flow", async () => {
      const { transport, deadLetters } = await setup();
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const [poison, next] = [messageOf(ref, 1), messageOf(ref, 2)];
      const got = recorder(async (d) => {
        if (d.body !== poison.body) return d.ack();
        if (d.attempt === 1) return d.retry(failureOf(1), 20);
        return d.deadLetter({ reason: "gave up", failure: failureOf(2) });
      });
      await transport.subscribe({ group, consumer: "c1", topics: [ref] }, got.handler);
      await transport.publish([poison]);
      await waitFor(() => got.deliveries.length >= 2, 8_000, "the second attempt");
      await transport.publish([next]);
      await waitFor(() => got.bodies().includes(next.body), 8_000, "the next message");
      await sleep(quietMs);

      expect(got.bodies()).toEqual([poison.body, poison.body, next.body]);
      const last = got.deliveries[1]!;
      const records = await deadLetters.list({ group });
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({
        id: deadLetterId(group, ref.topic, last.deliveryId),
        group,
        topic: ref.topic,
        owner: ref.owner,
        deliveryId: last.deliveryId,
        body: poison.body,
        reason: "gave up",
        status: "dead",
        retries: 0,
      });
      expect(records[0]?.attempts.map((a) => a.error.message)).toEqual(["failure 1", "failure 2"]);
      const audit = await deadLetters.audit(records[0]?.id);
      expect(audit.map((e) => [e.action, e.actor])).toEqual([["dead-lettered", "c1"]]);
    });

    durableIt(
      "hands a stopped consumer's unsettled message to another consumer, counting the silent delivery",
      async () => {
        const { transport } = await setup();
        const ref = uniqueTopic();
        const group = uniqueName("g");
        const dead = recorder(async () => {}); // never settles, like an instance that died mid-handler
        const stopped = await transport.subscribe({ group, consumer: "dead", topics: [ref] }, dead.handler);
        const messages = [messageOf(ref, 1), messageOf(ref, 2), messageOf(ref, 3)];
        await transport.publish(messages);
        await waitFor(() => dead.deliveries.length >= 3, 8_000, "the first consumer's deliveries");
        await stopped.stop();

        const heir = recorder();
        await transport.subscribe({ group, consumer: "heir", topics: [ref] }, heir.handler);
        await waitFor(() => heir.deliveries.length >= 3, 8_000, "the takeover");
        expect(heir.bodies().sort()).toEqual(messages.map((m) => m.body).sort());
        // No handler outcome was recorded: still attempt 1, but one delivery died silently.
        for (const delivery of heir.deliveries)
          expect(delivery).toMatchObject({ attempt: 1, silentDeliveries: 1 });
        expect(dead.deliveries.map((d) => d.silentDeliveries)).toEqual([0, 0, 0]);
      },
    );

    durableIt(
      "never hands a message to another consumer while its handler still runs (the lease is renewed)",
      async () => {
        const { transport } = await setup({ claimIdleMs: 1_000 }); // renewal every ~330 ms: margin for event-loop stalls
        const ref = uniqueTopic();
        const group = uniqueName("g");
        const slowMs = 2_500;
        const slow = recorder(async (d) => {
          await sleep(slowMs);
          await d.ack();
        });
        const other = recorder();
        await transport.subscribe({ group, consumer: "slow", topics: [ref] }, slow.handler);
        await transport.publish([messageOf(ref, 1)]);
        await waitFor(() => slow.deliveries.length >= 1, 8_000, "the slow delivery");
        await transport.subscribe({ group, consumer: "other", topics: [ref] }, other.handler);
        await sleep(slowMs + quietMs);
        expect(slow.deliveries).toHaveLength(1);
        expect(other.deliveries).toHaveLength(0);
      },
    );

    durableIt(
      "keeps renewing the leases of handlers a graceful stop is waiting for (no takeover while draining)",
      async () => {
        const { transport } = await setup({ claimIdleMs: 1_000 });
        const ref = uniqueTopic();
        const group = uniqueName("g");
        const slowMs = 2_500;
        const slow = recorder(async (d) => {
          await sleep(slowMs);
          await d.ack();
        });
        const other = recorder();
        const stopping = await transport.subscribe({ group, consumer: "slow", topics: [ref] }, slow.handler);
        await transport.publish([messageOf(ref, 1)]);
        await waitFor(() => slow.deliveries.length >= 1, 8_000, "the slow delivery");
        await transport.subscribe({ group, consumer: "other", topics: [ref] }, other.handler);
        await stopping.stop(); // waits for the slow handler, longer than claimIdleMs
        await sleep(quietMs);
        expect(slow.deliveries).toHaveLength(1);
        expect(other.deliveries).toHaveLength(0);
      },
    );

    durableIt("keeps a message waiting for its retry with its consumer until the delay is over", async () => {
      const { transport } = await setup({ claimIdleMs: 1_000 });
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const delayMs = 2_500;
      const retried = recorder(async (d) => (d.attempt === 1 ? d.retry(failureOf(1), delayMs) : d.ack()));
      const other = recorder();
      await transport.subscribe({ group, consumer: "retrier", topics: [ref] }, retried.handler);
      await transport.publish([messageOf(ref, 1)]);
      await waitFor(() => retried.deliveries.length >= 1, 8_000, "the first attempt");
      await transport.subscribe({ group, consumer: "other", topics: [ref] }, other.handler);
      await waitFor(() => retried.deliveries.length >= 2, 8_000 + delayMs, "the retry");
      expect(other.deliveries).toHaveLength(0);
      expect(retried.deliveries.map((d) => d.attempt)).toEqual([1, 2]);
    });

    durableIt(
      "hands the message of a handler that outlived maxLeaseMs (hung) to another consumer",
      async () => {
        const { transport } = await setup({ maxLeaseMs: 500 });
        const ref = uniqueTopic();
        const group = uniqueName("g");
        let unblock: () => void = () => {};
        const hung = new Promise<void>((resolve) => {
          unblock = resolve;
        });
        const stuck = recorder(() => hung);
        await transport.subscribe({ group, consumer: "stuck", topics: [ref] }, stuck.handler);
        const message = messageOf(ref, 1);
        await transport.publish([message]);
        await waitFor(() => stuck.deliveries.length >= 1, 8_000, "the stuck delivery");

        try {
          const healthy = recorder();
          await transport.subscribe({ group, consumer: "healthy", topics: [ref] }, healthy.handler);
          await waitFor(() => healthy.deliveries.length >= 1, 8_000, "the takeover");
          expect(healthy.deliveries[0]).toMatchObject({ body: message.body, attempt: 1 });
          // Each hung run given up is a silent delivery, or a recorded hang (Streams, break26 F2).
          const first = healthy.deliveries[0]!;
          expect(first.silentDeliveries + (first.hungRuns ?? 0)).toBeGreaterThanOrEqual(1);
        } finally {
          unblock();
        }
      },
    );

    durableIt(
      "lets a hung run go at maxLeaseMs: its only consumer gets its slot back and the message again, a silent delivery",
      async () => {
        const { transport } = await setup({ maxLeaseMs: 500 });
        const ref = uniqueTopic();
        const hang = hangUntilReleased();
        const [hung, healthy] = [messageOf(ref, 1), messageOf(ref, 2)];
        const got = recorder((d) => (d.body === hung.body ? hang.promise : d.ack()));
        const only = { group: uniqueName("g"), consumer: "only", topics: [ref], concurrency: 1 };
        await transport.subscribe(only, got.handler);
        try {
          await transport.publish([hung]);
          await waitFor(() => got.deliveries.length >= 1, 8_000, "the hung delivery");
          await transport.publish([healthy]);

          // Its one slot is freed: the healthy message runs while the hung run still runs.
          await waitFor(() => got.bodies().includes(healthy.body), 8_000, "the healthy message");
          const again = await waitFor(
            () => got.deliveries.find((d) => d.body === hung.body && d.deliveryCount >= 2),
            8_000,
            "the hung message again",
          );
          expect(again).toMatchObject({ attempt: 1, deliveryId: got.deliveries[0]!.deliveryId });
          expect(again.silentDeliveries + (again.hungRuns ?? 0)).toBeGreaterThanOrEqual(1);
        } finally {
          hang.release();
        }
      },
    );

    // A hung run's late success acknowledges the message, even once it was delivered again: its
    // work is done (break26 F1: it was dropped, the message run again and parked as a crash loop),
    // and the newer run's outcome then settles nothing. A late retry or defer is dropped: it would
    // count against, or settle, the newer run's delivery.
    for (const late of ["ack", "retry", "defer"] as const) {
      durableIt(
        late === "ack"
          ? "acknowledges the message when a hung run succeeds late, even once it was delivered again; the newer run's outcome then settles nothing"
          : `drops what a hung run settles (${late}) once its message was delivered again, never the newer run's`,
        async () => {
          const { transport } = await setup({ maxLeaseMs: 500 });
          const ref = uniqueTopic();
          const [first, second] = [hangUntilReleased(), hangUntilReleased()];
          let lateSettled = false;
          let newerSettled = false;
          const got = recorder(async (d) => {
            if (d.deliveryCount === 1) {
              await first.promise;
              await (late === "ack" ? d.ack() : late === "retry" ? d.retry(failureOf(1), 0) : d.defer(0));
              lateSettled = true;
            } else if (d.deliveryCount === 2) {
              await second.promise;
              await d.retry(failureOf(2), 20);
              newerSettled = true;
            } else await d.ack();
          });
          const sub = { group: uniqueName("g"), consumer: "only", topics: [ref], concurrency: 1 };
          await transport.subscribe(sub, got.handler);
          try {
            await transport.publish([messageOf(ref, 1)]);
            await waitFor(() => got.deliveries.length >= 2, 8_000, "the message delivered again");
            first.release();
            await waitFor(() => lateSettled, 8_000, "the hung run's late outcome");
            second.release();
            await waitFor(() => newerSettled, 8_000, "the newer run's outcome");
            // Else the newer run's retry runs, its attempt the newer run's failure + 1: the late
            // outcome neither settled the message nor counted, nor scheduled a run of its own.
            if (late !== "ack")
              await waitFor(() => got.deliveries.length >= 3, 8_000, "the newer run's retry");
            await sleep(quietMs);
            expect(got.deliveries.map((d) => [d.deliveryCount, d.attempt])).toEqual(
              late === "ack"
                ? [
                    [1, 1],
                    [2, 1],
                  ]
                : [
                    [1, 1],
                    [2, 1],
                    [3, 2],
                  ],
            );
          } finally {
            first.release();
            second.release();
          }
        },
      );
    }

    durableIt(
      "defer delivers again after the delay without a new attempt, and is no silent delivery",
      async () => {
        const { transport } = await setup();
        const ref = uniqueTopic();
        const got = recorder(async (d) => (got.deliveries.length < 3 ? d.defer(30) : d.ack()));
        await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
        await transport.publish([messageOf(ref, 1)]);
        await waitFor(() => got.deliveries.length >= 3, 8_000, "three deliveries");
        expect(got.deliveries.map((d) => [d.attempt, d.silentDeliveries])).toEqual([
          [1, 0],
          [1, 0],
          [1, 0],
        ]);
      },
    );

    durableIt("dates a message by when it entered the queue, the same on every delivery", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const before = Date.now();
      const got = recorder(async (d) => (d.attempt === 1 ? d.retry(failureOf(1), 20) : d.ack()));
      await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
      await transport.publish([messageOf(ref, 1)]);
      await waitFor(() => got.deliveries.length >= 2, 8_000, "two deliveries");
      const [first, second] = got.deliveries;
      // Redis's clock, on the same machine: a second of margin either way.
      expect(Math.abs((first?.enqueuedAt ?? 0) - before)).toBeLessThan(1_000);
      expect(second?.enqueuedAt).toBe(first?.enqueuedAt);
    });

    durableIt(
      "tells a retry when its entry was first delivered (where its dedupe window counts from)",
      async () => {
        const { transport } = await setup();
        const ref = uniqueTopic();
        const got = recorder(async (d) => (d.attempt === 1 ? d.retry(failureOf(1), 20) : d.ack()));
        await transport.publish([messageOf(ref, 1)]);
        await transport.subscribe({ group: uniqueName("g"), consumer: "c", topics: [ref] }, got.handler);
        await waitFor(() => got.deliveries.length >= 2, 8_000, "two deliveries");
        const [first, second] = got.deliveries;
        expect(first?.firstDeliveredAt).toBeGreaterThanOrEqual(first?.enqueuedAt ?? Infinity);
        expect(second?.deliveryCount).toBe(2);
        expect(second?.firstDeliveredAt).toBe(first?.firstDeliveredAt);
      },
    );

    it("counts the deliveries of an entry and tells a replay from a first delivery", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const group = uniqueName("g");
      const got = recorder(async (d) => (d.attempt === 1 && !d.replay ? d.retry(failureOf(1), 20) : d.ack()));
      await transport.subscribe({ group, consumer: "c", topics: [ref] }, got.handler);
      await transport.publish([messageOf(ref, 1)]);
      await waitFor(() => got.deliveries.length >= 2, 8_000, "the delivery and its retry");
      await transport.redeliver(group, messageOf(ref, 2));
      await waitFor(() => got.deliveries.length >= 3, 8_000, "the replay");
      expect(got.deliveries.map((d) => [d.deliveryCount, d.replay])).toEqual([
        [1, false],
        [2, false],
        [1, true],
      ]);
    });

    durableIt(
      "removes consumers that own nothing and were silent past deadConsumerMs, keeps the rest",
      async () => {
        const { transport } = await setup({ claimIdleMs: 60_000, deadConsumerMs: 300 });
        const ref = uniqueTopic();
        const group = uniqueName("g");
        for (const name of ["gone-1", "gone-2", "gone-3"]) {
          const gone = await transport.subscribe(
            { group, consumer: name, topics: [ref] },
            recorder().handler,
          );
          await gone.stop();
        }
        const holding = recorder(async () => {}); // leaves its message pending
        const holder = await transport.subscribe(
          { group, consumer: "holder", topics: [ref] },
          holding.handler,
        );
        await transport.publish([messageOf(ref, 1)]);
        await waitFor(() => holding.deliveries.length >= 1, 8_000, "the held message");
        await holder.stop();
        await transport.subscribe({ group, consumer: "live", topics: [ref] }, recorder().handler);

        const names = async () =>
          (await transport.consumers(group, [ref]))
            .map((c) => c.name)
            .sort()
            .join(",");
        await waitFor(
          async () => (await names()) === "holder,live",
          8_000,
          "only the holder and the live one",
        );
      },
    );

    durableIt("redeliver reaches a consumer of the group even for a topic it does not read", async () => {
      const { transport } = await setup();
      const [read, unread] = [uniqueTopic("r"), uniqueTopic("u")];
      const group = uniqueName("g");
      const got = recorder();
      await transport.subscribe({ group, consumer: "c", topics: [read] }, got.handler);
      const replay = messageOf(unread, 1);
      await transport.redeliver(group, replay);
      await waitFor(() => got.deliveries.length >= 1, 8_000, "the replay");
      expect(got.deliveries[0]).toMatchObject({ topic: unread.topic, body: replay.body });
    });

    it("redeliver reaches only the named group", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const [target, bystander] = [uniqueName("target"), uniqueName("bystander")];
      const [t, b] = [recorder(), recorder()];
      await transport.subscribe({ group: target, consumer: "c", topics: [ref] }, t.handler);
      await transport.subscribe({ group: bystander, consumer: "c", topics: [ref] }, b.handler);
      const message = messageOf(ref, 1);
      await transport.redeliver(target, message);

      await waitFor(() => t.deliveries.length >= 1, 8_000, "the redelivery");
      expect(t.deliveries[0]).toMatchObject({ topic: ref.topic, owner: ref.owner, body: message.body });
      await sleep(quietMs);
      expect(t.deliveries).toHaveLength(1);
      expect(b.deliveries).toHaveLength(0);
    });

    it("never runs more handlers at once than the subscription's concurrency", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      let running = 0;
      let peak = 0;
      const got = recorder(async (d) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(30);
        running--;
        await d.ack();
      });
      await transport.subscribe(
        { group: uniqueName("g"), consumer: "c", topics: [ref], concurrency: 2 },
        got.handler,
      );
      await transport.publish(Array.from({ length: 10 }, (_, n) => messageOf(ref, n)));

      await waitFor(() => got.deliveries.length >= 10, 8_000, "all ten");
      expect(peak).toBe(2);
    });

    durableIt("reads no more than its throttle grants, however many topics one read covers", async () => {
      const { transport } = await setup();
      const owner = uniqueTopic().owner; // one owner: its topics are read together
      const refs = [1, 2, 3].map((n) => ({ owner, topic: `${uniqueTopic(`r${n}`).topic}` }));
      let budget = 2;
      const throttle: ReadThrottle = {
        tryTake: (max) => {
          const granted = Math.min(max, budget);
          budget -= granted;
          return granted;
        },
        giveBack: (count) => {
          expect(count).toBeGreaterThanOrEqual(0);
          budget += count;
        },
        waitMs: () => (budget > 0 ? 0 : 60_000),
      };
      const got = recorder();
      await transport.subscribe(
        { group: uniqueName("g"), consumer: "c", topics: refs, throttle },
        got.handler,
      );
      await transport.publish(refs.flatMap((ref) => [1, 2, 3].map((n) => messageOf(ref, n))));
      await waitFor(() => got.deliveries.length >= 2, 8_000, "the granted deliveries");
      await sleep(quietMs);
      expect(got.deliveries).toHaveLength(2);
      // Every grant not handed back was delivered: nothing read beyond the throttle.
      expect(budget + got.deliveries.length).toBe(2);
    });

    it("stop waits for in-flight handlers to settle", async () => {
      const { transport } = await setup();
      const ref = uniqueTopic();
      const events: string[] = [];
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const got = recorder(async (d) => {
        events.push("started");
        await gate;
        await d.ack();
        events.push("settled");
      });
      const subscription = await transport.subscribe(
        { group: uniqueName("g"), consumer: "c", topics: [ref] },
        got.handler,
      );
      await transport.publish([messageOf(ref, 1)]);
      await waitFor(() => events.includes("started"), 8_000, "the handler to start");

      const stopping = subscription.stop().then(() => events.push("stopped"));
      await sleep(100);
      expect(events).toEqual(["started"]);
      release();
      await stopping;
      expect(events).toEqual(["started", "settled", "stopped"]);
    });
  });
}
