/**
 * A slow handler (it outlives maxLeaseMs + claimIdleMs, then succeeds) on one instance, over a
 * real process (consumer-process.fixture.ts, BEHAVIOUR "slow"): its run is given up as hung and
 * its message run again beside it, but its late success acks the message (break26 F1). Its ack
 * used to be dropped (the run was "superseded" by its own re-run), every re-run's too: the effect
 * was applied again and again and the message parked as a crash loop.
 */
import type { ChildProcess } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { itemStream, killConsumer, startConsumer } from "./consumer-process.supervisor.js";

/** The fixture's claimIdleMs. */
const CLAIM_IDLE_MS = 300;
const MAX_LEASE_MS = 1_500;
/**
 * Past maxLeaseMs + claimIdleMs (+ a renewal and a claim interval: at most maxLeaseMs + 700 ms), so
 * the message runs again before its first run returns; under 2 x maxLeaseMs + claimIdleMs, so the
 * second run is not given up before then.
 */
const SLOW_MS = MAX_LEASE_MS + 4 * CLAIM_IDLE_MS;

describeWithRedis("a slow handler that outlives its lease, over a real process", (getRedis) => {
  it("acks its message once its first run succeeds: no crash-loop letter, its effect applied at most twice", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    const { deadLetters, transport, publish, pending } = await itemStream(redis, ["slow"]);
    let child: ChildProcess | undefined;
    let sent = 0;
    let traffic: NodeJS.Timeout | undefined;
    try {
      child = await startConsumer({
        REDIS_URL: getRedis().url,
        GROUP: "slow",
        CONSUMER: "slot-1",
        BEHAVIOUR: "slow",
        SLOW_MS: String(SLOW_MS),
        MAX_LEASE_MS: String(MAX_LEASE_MS),
        ISOLATION_MS: "100",
      });
      await publish("slow");
      traffic = setInterval(() => void publish(`ok-${sent++}`), 100);
      // Its first run's end, and its second's (which began before it: see SLOW_MS).
      await waitFor(async () => Number(await redis.get("slowEffects")) >= 2, 30_000, "both runs' ends");
      clearInterval(traffic);
      const handled = async () => Object.keys(await redis.hgetall("done")).length >= sent;
      await waitFor(
        async () => (await handled()) && (await pending("slow")) === 0,
        30_000,
        "every message handled, nothing pending in the group",
      );

      // Run again beside itself once (given up as hung at maxLeaseMs, claimed again), never more:
      // the first success acked it. A handler that heeded its lease (Delivery.signal, aborted once
      // the message was acked) would have applied its effect once.
      expect(Number(await redis.get("slowRuns"))).toBe(2);
      expect(Number(await redis.get("slowEffects"))).toBe(2);
      expect(await deadLetters.list({ group: "slow" })).toEqual([]);
      // Its records (the hang, the second run's count) went with its ack.
      expect(await redis.keys("*:hung:*")).toEqual([]);
      expect(await redis.keys("*:runs:*")).toEqual([]);
      const done = await redis.hgetall("done");
      const wrong = Array.from({ length: sent }, (_, i) => `ok-${i}`).filter((sku) => done[sku] !== "1");
      expect(wrong).toEqual([]);
      expect(child.exitCode).toBeNull();
    } finally {
      clearInterval(traffic);
      if (child) await killConsumer(child);
      await transport.close();
    }
  }, 90_000);
});
