/**
 * The crash-loop backstop (break23): a message whose silent runs reach CRASH_LOOP_BACKSTOP_FACTOR x
 * its crash-loop limit is parked, though none was proven its own. Only runs whose handler started
 * count (break24 F1): redeliveries that waited at the gate and died with the process do not.
 */
import { expect, it } from "vitest";
import { ITEM_STREAM, itemStream } from "./consumer-process.supervisor.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { CRASH_LOOP_BACKSTOP_FACTOR, unprovenCrashLoopReason } from "./retry-policy.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { startedRunsKey } from "./transports/redis-stream-keys.js";

const limit = 3;
const backstop = CRASH_LOOP_BACKSTOP_FACTOR * limit;

/** A ghost's past: redeliveries before this one and, of them, those whose handler started. */
interface Past {
  sku: string;
  silent: number;
  started?: number;
}

describeWithRedis("the crash-loop backstop", (getRedis) => {
  /** Publishes one message per `past`, fakes its silent history, and runs a subscriber until `settled`. */
  async function runAfter(pasts: readonly Past[], settled: (ran: number, parked: number) => boolean) {
    await getRedis().flush();
    const redis = getRedis().client();
    const { deadLetters, transport, publish } = await itemStream(redis, ["g"], {
      claimIdleMs: 100,
      claimIntervalMs: 50,
    });
    const stream = ITEM_STREAM;
    for (const { sku } of pasts) await publish(sku);
    // Delivered to a consumer that died, as if silent that many times (none of them alone).
    const reply = (await redis.xreadgroup("GROUP", "g", "ghost", "STREAMS", stream, ">")) as [
      string,
      [string, string[]][],
    ][];
    const ids = reply[0]![1].map(([id]) => id);
    for (const [i, { silent, started }] of pasts.entries()) {
      await redis.xclaim(stream, "g", "ghost", 0, ids[i]!, "RETRYCOUNT", silent);
      // The first delivery counts as started by itself: the counter holds the later ones.
      if (started !== undefined) await redis.set(startedRunsKey(stream, "g", ids[i]!), started - 1);
    }
    const ran: string[] = [];
    const subscriber = new Subscriber({
      events: TestEvents,
      transport,
      verifier: null,
      group: "g",
      consumer: "c1",
      retry: { maxSilentDeliveries: limit },
    }).on("item.added", async ({ sku }) => void ran.push(sku));
    await subscriber.start();
    try {
      await waitFor(
        async () => settled(ran.length, (await deadLetters.list({})).length),
        15_000,
        "every message settled",
      );
      const parked = (await deadLetters.list({})).map((r) => [JSON.parse(r.body).payload.sku, r.reason]);
      return { ran: ran.sort(), parked };
    } finally {
      await subscriber.stop();
      await transport.close();
    }
  }

  it("parks a message whose started runs were silent 3 x its limit times; one silent once fewer runs", async () => {
    const pasts = [
      { sku: "over", silent: backstop, started: backstop },
      { sku: "under", silent: backstop - 1, started: backstop - 1 },
    ];
    const { ran, parked } = await runAfter(pasts, (ran, parked) => ran > 0 && parked > 0);
    expect(parked).toEqual([["over", unprovenCrashLoopReason(backstop)]]);
    expect(ran).toEqual(["under"]);
  });

  it("runs a message redelivered 3 x its limit times whose handler started only once (it waited its turn)", async () => {
    const pasts = [
      { sku: "waited", silent: backstop + 2 },
      { sku: "started-twice", silent: backstop + 2, started: 2 },
    ];
    const { ran, parked } = await runAfter(pasts, (ran, parked) => ran + parked === 2);
    expect(ran).toEqual(["started-twice", "waited"]);
    expect(parked).toEqual([]);
  });
});
