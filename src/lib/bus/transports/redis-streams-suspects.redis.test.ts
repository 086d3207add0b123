/**
 * When an entry is a crash suspect, and what its crash-loop count is (break21 N5): a failed
 * attempt explains the silences before it; a deferral explains none and keeps the count.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import type { Delivery } from "../transport.js";
import { FIELD_BODY, soloUndoneKey } from "./redis-stream-keys.js";
import type { Dispatcher } from "./redis-streams-dispatcher.js";
import { dispatcherOn, readAs } from "./redis-streams-dispatcher.fixture.js";
import { MAX_HOLD_FACTOR, RunGate } from "./redis-streams-isolation.js";
import { failureOf, uniqueName } from "./transport-contract.js";

const LATER = 600_000; // retries and deferrals the test itself delivers, never the timer

describeWithRedis("crash suspects of a Redis Streams dispatcher", (getRedis) => {
  /** A stream with `bodies`, read once by consumer "A" (delivery count 1 each). */
  async function streamOf(bodies: string[]) {
    const redis = getRedis().client();
    const stream = `{${uniqueName("sus")}}:ev:t`;
    await redis.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
    for (const body of bodies) await redis.xadd(stream, "*", FIELD_BODY, body);
    const items = await readAs(redis, stream, "g", bodies.length, 1);
    return { redis, stream, items };
  }

  /** Hands `items` to `dispatcher` and waits for their runs to end. */
  async function deliver(dispatcher: Dispatcher, items: Awaited<ReturnType<typeof readAs>>) {
    await dispatcher.acceptAll(items, dispatcher.permits.tryTake(items.length));
    await dispatcher.drain();
  }

  /**
   * One entry "a" (read once: delivery count 1) and `again(outcome)`: delivers it again (its Redis
   * delivery count raised) to a one-slot dispatcher whose handler records its `silentDeliveries`.
   */
  async function redelivered() {
    const { redis, stream, items } = await streamOf(["a"]);
    const id = items[0]!.claimed.entry.id;
    const silent: number[] = [];
    let settle: (d: Delivery) => Promise<void> = async () => {};
    const dispatcher = dispatcherOn(redis, stream, "g", 1, async (d) => {
      silent.push(d.silentDeliveries);
      await settle(d);
    });
    const again = async (outcome: (d: Delivery) => Promise<void>) => {
      settle = outcome;
      await redis.xclaim(stream, "g", "A", 0, id);
      const [, , , count] = (
        (await redis.xpending(stream, "g", "-", "+", 1)) as [string, string, number, number][]
      )[0]!;
      await deliver(dispatcher, [{ ...items[0]!, claimed: { ...items[0]!.claimed, deliveryCount: count } }]);
    };
    return { again, silent, dispatcher };
  }

  /** Ends silently: a crash, as far as Redis can tell. */
  const none = async () => {};

  it("is no suspect once a run after its silent delivery failed: its retry runs beside others", async () => {
    const { redis, stream, items } = await streamOf(["a", "b"]);
    // "a" is read again: its first delivery ended silently (a crash).
    const [a] = await readAs(redis, stream, "g", 1, 2, "0");
    const seen: { body: string; silent: number; besideB: boolean }[] = [];
    let bRunning = false;
    let aRetried = () => {};
    const retried = new Promise<void>((resolve) => (aRetried = resolve));
    const dispatcher = dispatcherOn(redis, stream, "g", 4, async (d: Delivery) => {
      seen.push({ body: d.body, silent: d.silentDeliveries, besideB: bRunning });
      if (d.body === "a" && d.attempt === 1) return d.retry(failureOf(1), 50);
      if (d.body === "a") aRetried();
      if (d.body === "b") {
        bRunning = true;
        // Bounded: a suspect's retry waits for b (up to isolationMs) and would never come.
        await Promise.race([retried, new Promise((resolve) => setTimeout(resolve, 3_000))]);
        bRunning = false;
      }
      await d.ack();
    });
    await deliver(dispatcher, [a!]);
    const accepting = dispatcher.acceptAll([items[1]!], dispatcher.permits.tryTake(1));
    await waitFor(() => seen.length >= 3, 10_000, "a's retry");
    await accepting;
    await dispatcher.drain();
    dispatcher.close();
    // Its retry ran while b ran, with no silent delivery left to count.
    expect(seen.find((s) => s.body === "a" && s !== seen[0])).toEqual({
      body: "a",
      silent: 0,
      besideB: true,
    });
  });

  it("counts a new silence after a failure as one, and a deferral keeps the count", async () => {
    const { again, silent, dispatcher } = await redelivered();
    await again((d) => d.retry(failureOf(1), LATER)); // 2nd delivery: after a silence; fails
    await again(none); // 3rd: the retry, no suspect; silent
    await again(none); // 4th: one silence since the failure; runs alone, silent again
    await again((d) => d.defer(LATER)); // 5th: two solo silences; deferred
    await again(none); // 6th: the deferral neither explained nor cleared them
    dispatcher.close();
    expect(silent).toEqual([1, 0, 1, 2, 2]);
  });

  it("keeps the proven solo crashes across a failure: only the silence in company is explained", async () => {
    const { again, silent, dispatcher } = await redelivered();
    await again(none); // 2nd: after a silence (in company); alone, silent: a proven crash
    await again((d) => d.retry(failureOf(1), LATER)); // 3rd: fails
    await again(none); // 4th: still a suspect, its proven crash kept
    await again(none); // 5th
    dispatcher.close();
    expect(silent).toEqual([1, 2, 1, 2]);
  });

  it("holds a suspect that hangs every time twice as long after company joined it, until it counts", async () => {
    const { redis, stream, items } = await streamOf(["hang"]);
    const id = items[0]!.claimed.entry.id;
    const silent: number[] = [];
    let unblock = () => {};
    const hung = new Promise<void>((resolve) => (unblock = resolve));
    const dispatchers: Dispatcher[] = [];
    try {
      // Each round another instance (its own gate) takes the hung entry over while traffic arrives.
      for (let round = 1; round <= 5; round++) {
        const consumer = `C${round}`;
        const traffic = (await redis.xadd(stream, "*", FIELD_BODY, "ok")) as string;
        let trafficDone = () => {};
        const handled = new Promise<void>((resolve) => (trafficDone = resolve));
        const dispatcher = dispatcherOn(
          redis,
          stream,
          "g",
          4,
          async (d) => {
            if (d.body === "hang") {
              silent.push(d.silentDeliveries);
              return hung;
            }
            await d.ack();
            trafficDone();
          },
          { consumer, gate: new RunGate(), isolationMs: 100, maxLeaseMs: 400 },
        );
        dispatchers.push(dispatcher);
        const claimed = (await redis.xclaim(stream, "g", consumer, 0, id)) as unknown[];
        expect(claimed).toHaveLength(1);
        const [, , , count] = (
          (await redis.xpending(stream, "g", id, id, 1)) as [string, string, number, number][]
        )[0]!;
        const hangItem = { key: stream, claimed: { ...items[0]!.claimed, deliveryCount: count } };
        await dispatcher.acceptAll([hangItem], dispatcher.permits.tryTake(1));
        await waitFor(() => silent.length === round, 10_000, "the hung entry's run");
        // Arrives while the suspect runs alone: it waits for the hold.
        await redis.call("XREADGROUP", "GROUP", "g", consumer, "STREAMS", stream, ">");
        const entry = { id: traffic, fields: { [FIELD_BODY]: "ok" } };
        await dispatcher.acceptAll(
          [{ key: stream, claimed: { entry, deliveryCount: 1 } }],
          dispatcher.permits.tryTake(1),
        );
        // The traffic runs once the hold ends: its count undone (hold < maxLeaseMs) or kept (hung).
        await handled;
      }
    } finally {
      for (const dispatcher of dispatchers) dispatcher.close();
      unblock();
    }
    // Holds of 100 and 200 ms: undone; then 400 ms = maxLeaseMs: hung alone, counted; and again.
    expect(silent).toEqual([1, 1, 1, 2, 3]);
  });

  it("caps a suspect's doubled hold at MAX_HOLD_FACTOR x isolationMs: traffic waits for that, not maxLeaseMs", async () => {
    const { redis, stream, items } = await streamOf(["hang"]);
    const id = items[0]!.claimed.entry.id;
    // Company joined 8 of its runs: doubled 8 times, its hold would be 25.6 s (up to maxLeaseMs).
    await redis.set(soloUndoneKey(stream, "g", id), 8);
    await redis.xclaim(stream, "g", "A", 0, id);
    let unblock = () => {};
    const hung = new Promise<void>((resolve) => (unblock = resolve));
    let started = () => {};
    const alone = new Promise<void>((resolve) => (started = resolve));
    const handled: number[] = [];
    const dispatcher = dispatcherOn(
      redis,
      stream,
      "g",
      2,
      async (d) => {
        if (d.body !== "hang") return void handled.push(performance.now());
        started();
        return hung;
      },
      { isolationMs: 100, maxLeaseMs: 60_000 },
    );
    try {
      const hang = { ...items[0]!, claimed: { ...items[0]!.claimed, deliveryCount: 2 } };
      await dispatcher.acceptAll([hang], dispatcher.permits.tryTake(1));
      await alone;
      const traffic = (await redis.xadd(stream, "*", FIELD_BODY, "ok")) as string;
      await redis.call("XREADGROUP", "GROUP", "g", "A", "STREAMS", stream, ">");
      const sentAt = performance.now();
      const entry = { id: traffic, fields: { [FIELD_BODY]: "ok" } };
      await dispatcher.acceptAll(
        [{ key: stream, claimed: { entry, deliveryCount: 1 } }],
        dispatcher.permits.tryTake(1),
      );
      await waitFor(() => handled.length === 1, 15_000, "the traffic's run");
      // At most 4 x 100 ms after the suspect started (margin for a loaded machine), not 25.6 s.
      expect(handled[0]! - sentAt).toBeLessThan(MAX_HOLD_FACTOR * 100 + 5_000);
    } finally {
      dispatcher.close();
      unblock();
    }
  });
});
