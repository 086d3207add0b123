/** Extras of a read waiting for a slot (parked): run only while they are still this consumer's. */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { waitFor } from "../../../test-support/wait.js";
import { FIELD_BODY } from "./redis-stream-keys.js";
import { CLAIM_IDLE_MS, dispatcherOn, readAs } from "./redis-streams-dispatcher.fixture.js";
import { renewLeases } from "./redis-streams-leases.js";
import { silentLogger } from "./redis-streams-support.js";
import { uniqueName } from "./transport-contract.js";

describeWithRedis("a parked extra whose lease another consumer took", (getRedis) => {
  /** Consumer A reads `n` entries of a fresh stream with one slot: the first runs (held), the rest park. */
  const setup = async (n: number) => {
    const redis = getRedis().client();
    const stream = `{${uniqueName("park")}}:ev:t`;
    const group = "g";
    await redis.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    for (let i = 0; i < n; i++) await redis.xadd(stream, "*", FIELD_BODY, `m${i}`);
    const items = await readAs(redis, stream, group, n, 1);
    const started: string[] = [];
    let releaseFirst = () => {};
    const firstDone = new Promise<void>((resolve) => (releaseFirst = resolve));
    const dispatcher = dispatcherOn(redis, stream, group, 1, async (delivery) => {
      started.push(delivery.body);
      if (delivery.body === "m0") await firstDone;
      await delivery.ack();
    });
    const takeOver = (id: string) => redis.xclaim(stream, group, "B", 0, id, "JUSTID");
    return { redis, stream, group, items, started, releaseFirst, dispatcher, takeOver };
  };

  it("is checked when its slot comes late, and not run once taken over", async () => {
    const { items, started, releaseFirst, dispatcher, takeOver } = await setup(3);
    // Read long ago (a slow handler held the only slot): the extras must be checked in Redis.
    const accepting = dispatcher.acceptAll(
      items,
      dispatcher.permits.tryTake(1),
      performance.now() - CLAIM_IDLE_MS,
    );
    await waitFor(() => started.includes("m0"), 5_000, "the first entry's handler");
    await takeOver(items[1]!.claimed.entry.id);
    releaseFirst();
    await accepting;
    await dispatcher.drain();
    // m1 is B's now; m2 was still A's and runs (its permit was not lost with m1's).
    expect(started).toEqual(["m0", "m2"]);
  });

  it("is dropped when a renewal finds it taken over, even if its slot comes soon after the read", async () => {
    const { redis, group, items, started, releaseFirst, dispatcher, takeOver } = await setup(2);
    const accepting = dispatcher.acceptAll(items, dispatcher.permits.tryTake(1), performance.now());
    await waitFor(() => started.includes("m0"), 5_000, "the first entry's handler");
    const id = items[1]!.claimed.entry.id;
    await takeOver(id);
    const stillHeld = (s: string, i: string) => dispatcher.isBusy(s, i);
    const onLost = (s: string, ids: readonly string[]) => dispatcher.markLost(s, ids);
    const lease = { redis, group, consumer: "A", logger: silentLogger, stillHeld, onLost };
    await renewLeases(lease, dispatcher.leased(performance.now(), 600_000));
    expect(dispatcher.isBusy(items[1]!.key, id)).toBe(false);
    releaseFirst();
    await accepting;
    await dispatcher.drain();
    expect(started).toEqual(["m0"]);
  });
});

describeWithRedis("crash suspects waiting to run alone when the consumer stops", (getRedis) => {
  // break21 N4: after a restart the suspects of a crash run one at a time; a stop during that kept
  // starting the held ones after "stopping" (and a supervisor's grace then killed one mid-run, a
  // crash it did not cause). A suspect that passes the gate after close() does not start.
  it("does not start a suspect that was waiting for the gate once the dispatcher is closed", async () => {
    const redis = getRedis().client();
    const stream = `{${uniqueName("suspects")}}:ev:t`;
    const group = "g";
    await redis.xgroup("CREATE", stream, group, "$", "MKSTREAM");
    for (let i = 0; i < 2; i++) await redis.xadd(stream, "*", FIELD_BODY, `m${i}`);
    // Delivered once before without an outcome (a crash): both are suspects.
    const items = await readAs(redis, stream, group, 2, 2);
    const started: string[] = [];
    let releaseFirst = () => {};
    const firstDone = new Promise<void>((resolve) => (releaseFirst = resolve));
    const dispatcher = dispatcherOn(redis, stream, group, 2, async (delivery) => {
      started.push(delivery.body);
      await firstDone;
      await delivery.ack();
    });
    const accepting = dispatcher.acceptAll(items, dispatcher.permits.tryTake(2), performance.now());
    await waitFor(() => started.length > 0, 5_000, "the first suspect's handler");
    dispatcher.close();
    releaseFirst();
    await accepting;
    await dispatcher.drain();
    expect(started).toHaveLength(1);
    // The one not started stays pending for a later delivery.
    const pending = (await redis.xpending(stream, group)) as [number, ...unknown[]];
    expect(pending[0]).toBe(1);
  });
});
