/**
 * A consumer that stalled past claimIdleMs (a long GC, SIGSTOP) lost its running entries to another
 * consumer, whose runs of them were crash suspects for that silence. The stalled owner, awake,
 * records its runs alive (Dispatcher.recordStall); a suspect that re-reads that record while it
 * waits or holds runs as an ordinary run (redis-streams-isolation.ts). Over a real Redis, one
 * dispatcher each (consumer "A", a gate of its own).
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import type { Delivery } from "../transport.js";
import { FIELD_BODY, hungRunsKey, soloRunsKey, soloUndoneKey, startedRunsKey } from "./redis-stream-keys.js";
import { CLAIM_IDLE_MS, dispatcherOn, readAs } from "./redis-streams-dispatcher.fixture.js";
import { RunGate } from "./redis-streams-isolation.js";
import { receiveOwned } from "./redis-streams-leases.js";
import { type ClaimedEntry, parseReadReply } from "./redis-streams-replies.js";
import { hungRunScript } from "./redis-streams-scripts.js";
import { silentLogger } from "./redis-streams-support.js";
import { uniqueName } from "./transport-contract.js";

describeWithRedis("a run whose owner stalled", (getRedis) => {
  /**
   * `count` entries on one stream, a dispatcher with 4 slots whose handlers wait for their release
   * (by sku, the entry body), re-reading stall records every 50 ms, suspects waiting up to 30 s.
   */
  const setup = async (count: number) => {
    const redis = getRedis().client();
    const stream = `{${uniqueName("stall")}}:ev:t`;
    const group = "g";
    await redis.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push((await redis.xadd(stream, "*", FIELD_BODY, `m${i}`))!);
    const releases = new Map<string, () => void>();
    const deliveries = new Map<string, Delivery>();
    const started: string[] = [];
    // Suspects are told apart from ordinary runs only after a read of their records: counted here.
    const gate = new RunGate();
    const enterSuspect = gate.enterSuspect.bind(gate);
    const suspects = { entered: 0 };
    gate.enterSuspect = (options) => {
      suspects.entered++;
      return enterSuspect(options);
    };
    const dispatcher = dispatcherOn(
      redis,
      stream,
      group,
      4,
      async (delivery) => {
        deliveries.set(delivery.body, delivery);
        started.push(delivery.body);
        await new Promise<void>((resolve) => releases.set(delivery.body, resolve));
        await delivery.ack();
      },
      { isolationMs: 30_000, renewIntervalMs: 50, gate },
    );
    // Every entry pending for consumer "A" from the start; each handed on when the test says.
    await readAs(redis, stream, group, count, 1);
    /** Hands entry `i` to the dispatcher, as delivered `n` times. */
    const deliver = async (i: number, n: number) => {
      const all = await readAs(redis, stream, group, count, n, "0");
      const item = all.find((x) => x.claimed.entry.id === ids[i]);
      await dispatcher.acceptAll([item!], dispatcher.permits.tryTake(1));
    };
    /** The stalled former owner's record: `explained` silent deliveries explained, no hung run. */
    const recordStall = (i: number, explained: number) =>
      hungRunScript.run(
        redis,
        [hungRunsKey(stream, group, ids[i]!), stream],
        [explained, 60_000, group, ids[i]!, "0"],
      );
    const keyOf = (key: typeof soloRunsKey, i: number) => key(stream, group, ids[i]!);
    return {
      gate,
      suspects,
      redis,
      stream,
      group,
      ids,
      dispatcher,
      releases,
      deliveries,
      started,
      deliver,
      recordStall,
      keyOf,
    };
  };

  it("is recorded alive by its owner when a renewal finds its lease lost: its silence explained, no hung run, its solo count undone", async () => {
    const { redis, stream, ids, dispatcher, releases, started, deliver, keyOf } = await setup(1);
    // A suspect here (one silent delivery before), run alone and counted.
    await deliver(0, 2);
    await waitFor(() => started.includes("m0"), 5_000, "the handler");
    expect(await redis.get(keyOf(soloRunsKey, 0))).toBe("1");

    // This process stalled; another consumer took the entry over; a renewal finds it lost.
    dispatcher.markLost(stream, [ids[0]!]);
    dispatcher.markLost(stream, [ids[0]!]);
    await waitFor(async () => (await redis.get(keyOf(soloRunsKey, 0))) === "0", 5_000, "the uncount");
    // Both silent deliveries explained (the one before, in company, and this one); no hung run.
    expect(await redis.get(keyOf(hungRunsKey, 0))).toBe("0 2");
    expect(await redis.get(keyOf(soloUndoneKey, 0))).toBeNull();
    releases.get("m0")!();
    await dispatcher.drain();
  });

  it("waiting for the busy runs as a suspect, runs as an ordinary run once explained: not counted alone, counted as started", async () => {
    const { redis, dispatcher, releases, deliveries, started, deliver, recordStall, keyOf, suspects } =
      await setup(3);
    await deliver(0, 1);
    await waitFor(() => started.includes("m0"), 5_000, "the busy ordinary run");
    // Taken over from a stalled owner: one silent delivery, a suspect waiting for m0 (30 s).
    await deliver(1, 2);
    await waitFor(() => suspects.entered === 1, 5_000, "the suspect in line");
    await deliver(2, 1); // an ordinary run held off behind it
    await new Promise((r) => setTimeout(r, 200));
    expect(started).toEqual(["m0"]);

    expect(await recordStall(1, 1)).toBe(1);
    await waitFor(() => started.length === 3, 5_000, "the explained suspect and the held run");
    expect(started.slice(1).sort()).toEqual(["m1", "m2"]);
    expect(deliveries.get("m1")?.silentDeliveries).toBe(0);
    expect(await redis.get(keyOf(soloRunsKey, 1))).toBeNull();
    // The backstop still counts its run: it started (startedRunsKey).
    expect(await redis.get(keyOf(startedRunsKey, 1))).toBe("1");
    expect(deliveries.get("m1")?.hungRuns).toBe(0);
    for (const release of releases.values()) release();
    await dispatcher.drain();
  });

  it("holding ordinary runs off alone, ends its hold once explained, its count undone first (not doubling its next hold)", async () => {
    const { redis, dispatcher, releases, started, deliver, recordStall, keyOf } = await setup(2);
    await deliver(0, 2);
    await waitFor(() => started.includes("m0"), 5_000, "the suspect's run alone");
    expect(await redis.get(keyOf(soloRunsKey, 0))).toBe("1");
    await deliver(1, 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(started).toEqual(["m0"]);

    await recordStall(0, 1);
    await waitFor(() => started.includes("m1"), 5_000, "the ordinary run beside it");
    expect(await redis.get(keyOf(soloRunsKey, 0))).toBe("0");
    expect(await redis.get(keyOf(soloUndoneKey, 0))).toBeNull();
    for (const release of releases.values()) release();
    await dispatcher.drain();
  });

  it("stays a suspect when it crashes after the stall was explained: a new silence is unexplained", async () => {
    const { redis, dispatcher, releases, deliveries, started, deliver, recordStall, keyOf } = await setup(1);
    await recordStall(0, 1);
    // Its run after the stall (delivery 2) ended silently too (a crash): delivery 3 is a suspect.
    await redis.set(keyOf(startedRunsKey, 0), "1");
    await deliver(0, 3);
    await waitFor(() => started.includes("m0"), 5_000, "the suspect's run");
    expect(deliveries.get("m0")?.silentDeliveries).toBe(1);
    expect(deliveries.get("m0")?.silentStartedRuns).toBe(2);
    expect(await redis.get(keyOf(soloRunsKey, 0))).toBe("1");
    releases.get("m0")!();
    await dispatcher.drain();
  });

  it("waiting as a suspect, is not run once its entry is acked meanwhile (the stalled owner's run returned), and drops its records", async () => {
    const { redis, stream, group, ids, dispatcher, releases, started, deliver, suspects, keyOf } =
      await setup(2);
    await deliver(0, 1);
    await waitFor(() => started.includes("m0"), 5_000, "the busy ordinary run");
    await deliver(1, 2);
    await waitFor(() => suspects.entered === 1, 5_000, "the suspect in line");
    // The stalled owner's record, and its ack that cleaned nothing (break36 F1): both at once.
    await redis.multi().set(keyOf(hungRunsKey, 1), "0 1", "PX", 60_000).xack(stream, group, ids[1]!).exec();
    await waitFor(() => !dispatcher.isBusy(stream, ids[1]!), 5_000, "the suspect's end");
    expect(started).toEqual(["m0"]);
    expect(await redis.get(keyOf(hungRunsKey, 1))).toBeNull();
    expect(dispatcher.permits.available).toBe(3);
    releases.get("m0")!();
    await dispatcher.drain();
  });

  it("records a first delivery taken over before it ran here (a parked extra), so its new owner's run is no suspect", async () => {
    const { redis, stream, ids, dispatcher, releases, started, keyOf } = await setup(5);
    const all = await readAs(redis, stream, "g", 5, 1, "0");
    // 4 slots: m4 waits for one, parked; the renewal finds it taken over.
    const accepting = dispatcher.acceptAll(all, dispatcher.permits.tryTake(4));
    await waitFor(() => started.length === 4, 5_000, "the first four runs");
    dispatcher.markLost(stream, [ids[4]!]);
    await waitFor(async () => (await redis.get(keyOf(hungRunsKey, 4))) === "0 1", 5_000, "the record");
    // A later delivery is no first one: nothing is known of its silences, nothing is written.
    dispatcher.explainUnrun(stream, ids[3]!, 2);
    for (const release of releases.values()) release();
    await accepting;
    await dispatcher.drain();
    expect(started).not.toContain("m4");
    expect(await redis.get(keyOf(hungRunsKey, 3))).toBeNull();
  });

  it("drops the stall record with its entry when the stalled owner's run then acks its first delivery (break36 F1)", async () => {
    const { redis, stream, group, ids, dispatcher, releases, started, deliver, keyOf } = await setup(1);
    await deliver(0, 1);
    await waitFor(() => started.includes("m0"), 5_000, "the handler");
    // This process stalled; B took the entry over; awake, the renewal finds it lost: recorded alive.
    await redis.xclaim(stream, group, "B", 0, ids[0]!);
    dispatcher.markLost(stream, [ids[0]!]);
    await waitFor(async () => (await redis.get(keyOf(hungRunsKey, 0))) === "0 1", 5_000, "the stall record");
    releases.get("m0")!(); // its handler returns and acks (B's entry now)
    await dispatcher.drain();
    await waitFor(async () => (await redis.xpending(stream, group))[0] === 0, 5_000, "the ack");
    expect(await redis.get(keyOf(hungRunsKey, 0))).toBeNull();
  });

  it("does not run a first delivery found taken over while it waited in the gate, and records it unrun (break36 F4)", async () => {
    const { gate, redis, stream, group, ids, dispatcher, releases, started, deliver, keyOf } = await setup(1);
    // A crash suspect of this process holds ordinary runs off: m0 waits in the gate.
    const holder = await gate.enterSuspect({
      hungMs: 600_000,
      isolationMs: 60_000,
      holdMs: 60_000,
      onCompany: async () => {},
    });
    await deliver(0, 1);
    // This process stalled; B took m0 over; awake, the renewal finds it lost.
    await redis.xclaim(stream, group, "B", 0, ids[0]!);
    dispatcher.markLost(stream, [ids[0]!]);
    holder.leave();
    await waitFor(() => started.length > 0 || !dispatcher.isBusy(stream, ids[0]!), 5_000, "m0's end here");
    for (const release of releases.values()) release();
    await dispatcher.drain();
    expect(started).toEqual([]);
    // Its silence explained (it never started): B's run of it is no crash suspect.
    await waitFor(async () => (await redis.get(keyOf(hungRunsKey, 0))) === "0 1", 5_000, "the record");
    const [row] = (await redis.xpending(stream, group, ids[0]!, ids[0]!, 1)) as [string, string][];
    expect(row?.[1]).toBe("B");
    expect(dispatcher.permits.available).toBe(4);
  });

  it("records a parked extra found taken over as its slot frees (stillOurs), as the renewal does (break36 F3)", async () => {
    const { redis, stream, group, ids, dispatcher, releases, started, keyOf } = await setup(5);
    const all = await readAs(redis, stream, group, 5, 1, "0");
    // Read claimIdleMs ago: a slot freed now is checked in Redis (stillOurs) before m4 runs.
    const accepting = dispatcher.acceptAll(
      all,
      dispatcher.permits.tryTake(4),
      performance.now() - CLAIM_IDLE_MS,
    );
    await waitFor(() => started.length === 4, 5_000, "the first four runs");
    await redis.xclaim(stream, group, "B", 0, ids[4]!); // during this process's stall
    releases.get("m0")!();
    await accepting;
    await waitFor(async () => (await redis.get(keyOf(hungRunsKey, 4))) !== null, 5_000, "m4's record").catch(
      () => undefined,
    );
    expect(await redis.get(keyOf(hungRunsKey, 4))).toBe("0 1");
    for (const release of releases.values()) release();
    await dispatcher.drain();
    expect(started).not.toContain("m4");
  });

  it("tells of a late read reply's entries taken over meanwhile (explainUnrun records them)", async () => {
    const redis = getRedis().client();
    const stream = `{${uniqueName("late")}}:ev:t`;
    await redis.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
    const id = (await redis.xadd(stream, "*", FIELD_BODY, "m"))!;
    const taken: string[] = [];
    const check = {
      redis,
      group: "g",
      consumer: "A",
      logger: silentLogger,
      claimIdleMs: 0, // every reply is late: checked
      onTakenOver: (key: string, c: ClaimedEntry) => taken.push(`${key} ${c.entry.id} ${c.deliveryCount}`),
    };
    const { owned } = await receiveOwned(
      check,
      "read",
      async () => {
        const reply = await redis.call("XREADGROUP", "GROUP", "g", "A", "COUNT", 1, "STREAMS", stream, ">");
        await redis.xclaim(stream, "g", "B", 0, id); // during this process's stall
        return parseReadReply(reply);
      },
      (streams) =>
        streams.flatMap(({ key, entries }) =>
          entries.map((entry) => ({ key, claimed: { entry, deliveryCount: 1 } })),
        ),
    );
    expect(owned).toEqual([]);
    expect(taken).toEqual([`${stream} ${id} 1`]);
  });
});
