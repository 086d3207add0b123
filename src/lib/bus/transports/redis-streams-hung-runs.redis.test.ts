/**
 * A run given up as hung (maxLeaseMs) is let go (break24 F2): its slot is freed and its entry is
 * no longer busy here, so this consumer's idle claim may run it again; a failure it settles once
 * its entry runs again is dropped, never the newer run's outcome nor a second permit; its late
 * success acks the entry, and the newer run loses its lease (break26 F1). Its hang is recorded, so
 * the next run is no crash suspect (break26 F2).
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import type { Delivery } from "../transport.js";
import { FIELD_BODY, failuresKey, hungRunsKey, soloRunsKey, startedRunsKey } from "./redis-stream-keys.js";
import { CLAIM_IDLE_MS, dispatcherOn, readAs } from "./redis-streams-dispatcher.fixture.js";
import { hungRunScript } from "./redis-streams-scripts.js";
import { uniqueName } from "./transport-contract.js";

const MAX_LEASE_MS = 600_000;

describeWithRedis("a run given up as hung", (getRedis) => {
  /**
   * One entry, one slot: each run of it waits for its own release, then settles as `settle` says
   * (by its delivery count). Runs are told apart by their delivery count.
   */
  const setup = async (settle: (delivery: Delivery) => Promise<void>, maxHungRunsLetGo?: number) => {
    const redis = getRedis().client();
    const stream = `{${uniqueName("hung")}}:ev:t`;
    const group = "g";
    await redis.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    const id = await redis.xadd(stream, "*", FIELD_BODY, "m");
    const releases = new Map<number, () => void>();
    const deliveries = new Map<number, Delivery>();
    const ended: number[] = [];
    const told: [string, boolean][] = [];
    const dispatcher = dispatcherOn(
      redis,
      stream,
      group,
      1,
      async (delivery) => {
        deliveries.set(delivery.deliveryCount, delivery);
        await new Promise<void>((resolve) => releases.set(delivery.deliveryCount, resolve));
        await settle(delivery);
        ended.push(delivery.deliveryCount);
      },
      // A suspect does not wait long for the hung run to return (it never would).
      {
        isolationMs: 50,
        onHung: (key, letGo) => told.push([key, letGo]),
        ...(maxHungRunsLetGo === undefined ? {} : { maxHungRunsLetGo }),
      },
    );
    const pending = async () => ((await redis.xpending(stream, group)) as [number])[0];
    /** Renewal round as if the run had been going for longer than maxLeaseMs. */
    const pastMaxLease = () => dispatcher.leased(performance.now() + MAX_LEASE_MS + 1, MAX_LEASE_MS);
    return {
      redis,
      stream,
      group,
      id: id!,
      dispatcher,
      releases,
      deliveries,
      ended,
      told,
      pending,
      pastMaxLease,
    };
  };

  it("frees its slot and its entry: the entry runs again beside it, counted as a redelivery", async () => {
    const { stream, group, id, dispatcher, releases, told, pastMaxLease, redis } = await setup((d) =>
      d.ack(),
    );
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 1), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(1), 5_000, "the first run's handler");
    expect(dispatcher.isBusy(stream, id)).toBe(true);
    expect(dispatcher.permits.available).toBe(0);

    const leased = pastMaxLease();
    pastMaxLease();
    // Told once (metrics: ordersaga_hung_runs_total{outcome="let_go"}), not on every renewal round.
    expect(told).toEqual([[stream, true]]);
    expect(leased.get(stream) ?? []).toEqual([]);
    expect(dispatcher.isBusy(stream, id)).toBe(false);
    // Left to the idle claims of other instances for 2 × claimIdleMs first, then to this one's too.
    expect(dispatcher.busyIds(stream)).toEqual([id]);
    expect(dispatcher.hasHungRun(stream, id)).toBe(true);
    expect(dispatcher.permits.available).toBe(1);
    await waitFor(
      () => dispatcher.busyIds(stream).length === 0,
      2 * CLAIM_IDLE_MS + 5_000,
      "this instance's turn",
    );

    // Taken again here (as the idle claim would: the delivery count rises) and run beside the hung one.
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 2, "0"), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(2), 5_000, "the second run's handler");
    expect(dispatcher.isBusy(stream, id)).toBe(true);
    releases.get(2)!();
    releases.get(1)!();
    await dispatcher.drain();
    expect(dispatcher.permits.available).toBe(1);
  });

  it.each(["retry", "defer"] as const)(
    "whose handler returns late (%s) after its entry ran again settles nothing and frees no second slot",
    async (late) => {
      const { redis, stream, group, id, dispatcher, releases, ended, pending, pastMaxLease } = await setup(
        async (delivery) => {
          if (delivery.deliveryCount > 1) return delivery.ack();
          if (late === "defer") return delivery.defer(0);
          const error = { name: "Error", message: "late failure" };
          return delivery.retry({ attempt: 1, at: new Date().toISOString(), durationMs: 1, error }, 0);
        },
      );
      await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 1), dispatcher.permits.tryTake(1));
      await waitFor(() => releases.has(1), 5_000, "the first run's handler");
      pastMaxLease();
      await dispatcher.acceptAll(
        await readAs(redis, stream, group, 1, 2, "0"),
        dispatcher.permits.tryTake(1),
      );
      await waitFor(() => releases.has(2), 5_000, "the second run's handler");

      // The hung run returns while the new one runs: the entry stays the new run's.
      releases.get(1)!();
      await waitFor(() => ended.includes(1), 5_000, "the hung run's end");
      await new Promise((r) => setImmediate(r));
      expect(await pending()).toBe(1);
      expect(await redis.exists(failuresKey(stream, group, id))).toBe(0);
      expect(dispatcher.isBusy(stream, id)).toBe(true);
      expect(dispatcher.permits.available).toBe(0);

      releases.get(2)!();
      await dispatcher.drain();
      await waitFor(async () => (await pending()) === 0, 5_000, "the new run's ack");
      expect(dispatcher.permits.available).toBe(1);
      // No retry of the hung run's: nothing ran a third time.
      expect(releases.has(3)).toBe(false);
      expect(ended.sort()).toEqual([1, 2]);
    },
  );

  it("whose handler succeeds late after its entry ran again acks it: the newer run loses its lease and settles nothing", async () => {
    const { redis, stream, group, id, dispatcher, releases, deliveries, ended, pending, pastMaxLease } =
      await setup(async (delivery) => {
        // The newer run would fail: its failure must not be recorded once the entry is acked.
        if (delivery.deliveryCount === 1) return delivery.ack();
        const error = { name: "Error", message: "newer run fails" };
        return delivery.retry({ attempt: 1, at: new Date().toISOString(), durationMs: 1, error }, 0);
      });
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 1), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(1), 5_000, "the first run's handler");
    pastMaxLease();
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 2, "0"), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(2), 5_000, "the second run's handler");
    expect(deliveries.get(2)?.signal?.aborted).toBe(false);

    // The slow first run returns with success: its ack applies (the work is done).
    releases.get(1)!();
    await waitFor(async () => (await pending()) === 0, 5_000, "the late ack");
    expect(deliveries.get(2)?.signal?.aborted).toBe(true);
    // The entry's records (the second run's started-run count, the hang) went with the ack.
    const records = [hungRunsKey(stream, group, id), startedRunsKey(stream, group, id)];
    expect(await redis.exists(...records)).toBe(0);

    releases.get(2)!();
    await dispatcher.drain();
    await waitFor(() => ended.includes(2), 5_000, "the newer run's end");
    expect(await redis.exists(failuresKey(stream, group, id))).toBe(0);
    expect(await pending()).toBe(0);
    expect(dispatcher.permits.available).toBe(1);
    expect(dispatcher.isBusy(stream, id)).toBe(false);
    expect(releases.has(3)).toBe(false);
  });

  it("is recorded as hung: the next run is no crash suspect, and the hang is not counted as a crash alone", async () => {
    const { redis, stream, group, id, dispatcher, releases, deliveries, pastMaxLease } = await setup((d) =>
      d.ack(),
    );
    // A crash suspect already (a silent delivery before): it runs alone, counted.
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 2), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(2), 5_000, "the suspect's run");
    expect(await redis.get(soloRunsKey(stream, group, id))).toBe("1");

    pastMaxLease();
    await waitFor(
      async () => (await redis.get(hungRunsKey(stream, group, id))) !== null,
      5_000,
      "the hang record",
    );
    // Known to have hung, not crashed: its solo count is undone.
    await waitFor(
      async () => (await redis.get(soloRunsKey(stream, group, id))) === "0",
      5_000,
      "the uncount",
    );

    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 3, "0"), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(3), 5_000, "the next run's handler");
    releases.get(3)!();
    releases.get(2)!();
    await dispatcher.drain();
    const next = deliveries.get(3)!;
    // No crash suspect (silentDeliveries counts only a suspect's), its two silent runs still
    // counted by the backstop, one of them hung.
    expect(next.silentDeliveries).toBe(0);
    expect(next.silentStartedRuns).toBe(2);
    expect(next.hungRuns).toBe(1);
  });

  it("records no hang for an entry no longer pending (another instance took it over and acked it meanwhile)", async () => {
    // break27 F2: an instance resumed from a freeze recorded the hang of an entry acked elsewhere,
    // and the record stayed its whole TTL (7 days) beside no entry.
    const { redis, stream, group, id } = await setup((d) => d.ack());
    await readAs(redis, stream, group, 1, 1);
    const key = hungRunsKey(stream, group, id);
    expect(await hungRunScript.run(redis, [key, stream], [0, 60_000, group, id])).toBe(1);
    await redis.del(key);
    await redis.xack(stream, group, id);
    expect(await hungRunScript.run(redis, [key, stream], [0, 60_000, group, id])).toBe(0);
    expect(await redis.exists(key)).toBe(0);
  });

  it("that returns before its entry ran again still settles it (a slow handler, not a hung one)", async () => {
    const { redis, stream, group, dispatcher, releases, pending, pastMaxLease } = await setup((d) => d.ack());
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 1), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(1), 5_000, "the first run's handler");
    pastMaxLease();
    releases.get(1)!();
    await dispatcher.drain();
    await waitFor(async () => (await pending()) === 0, 5_000, "the late ack");
    expect(dispatcher.permits.available).toBe(1);
  });

  it("keeps its slot and its entry past maxHungRunsLetGo", async () => {
    const { redis, stream, group, id, dispatcher, releases, told, pastMaxLease } = await setup(
      (d) => d.ack(),
      0,
    );
    await dispatcher.acceptAll(await readAs(redis, stream, group, 1, 1), dispatcher.permits.tryTake(1));
    await waitFor(() => releases.has(1), 5_000, "the first run's handler");
    pastMaxLease();
    pastMaxLease();
    expect(told).toEqual([[stream, false]]);
    expect(dispatcher.isBusy(stream, id)).toBe(true);
    expect(dispatcher.permits.available).toBe(0);
    releases.get(1)!();
    await dispatcher.drain();
    expect(dispatcher.permits.available).toBe(1);
  });
});
