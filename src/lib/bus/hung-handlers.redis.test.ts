/**
 * A message whose handler hangs on every run ends parked, with 1 or 2 instances (break24 F2), over
 * real processes (consumer-process.fixture.ts, BEHAVIOUR "hang"). Each instance used to keep its
 * own hung run and never take the entry again: it stayed pending for ever, the stream untrimmed.
 */
import type { ChildProcess } from "node:child_process";
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { itemStream, killConsumer, startConsumer } from "./consumer-process.supervisor.js";
import { CRASH_LOOP_BACKSTOP_FACTOR, crashLoopReason, unprovenCrashLoopReason } from "./retry-policy.js";

/** The default crash-loop limit (`maxAttempts`): the backstop parks after 3 x it silent runs. */
const LIMIT = 3;

describeWithRedis("a handler that hangs on every run, over real processes", (getRedis) => {
  async function parksTheHungMessage(instances: number) {
    await getRedis().flush();
    const redis = getRedis().client();
    const { deadLetters, transport, publish, pending } = await itemStream(redis, ["hangs"]);
    const children: ChildProcess[] = [];
    let sent = 0;
    let traffic: NodeJS.Timeout | undefined;
    try {
      for (let i = 1; i <= instances; i++) {
        children.push(
          await startConsumer({
            REDIS_URL: getRedis().url,
            GROUP: "hangs",
            CONSUMER: `slot-${i}`,
            BEHAVIOUR: "hang",
            // A hung run is given up after 1 s (claimIdleMs 300 ms in the fixture), so each hung
            // run costs about 1.6 s; holds of crash suspects stay short (100 to 400 ms).
            MAX_LEASE_MS: "1000",
            ISOLATION_MS: "100",
          }),
        );
      }
      await publish("hang");
      // Healthy traffic until the hung message is parked: it must keep flowing meanwhile.
      traffic = setInterval(() => void publish(`ok-${sent++}`), 100);
      await waitFor(async () => (await deadLetters.list({})).length > 0, 90_000, "the hung message parked");
      clearInterval(traffic);
      // Nothing pending is not enough: entries not read yet are not pending either.
      const handled = async () => Object.keys(await redis.hgetall("done")).length >= sent;
      await waitFor(
        async () => (await handled()) && (await pending("hangs")) === 0,
        30_000,
        "every healthy message handled, nothing pending in the group",
      );

      const records = await deadLetters.list({ group: "hangs" });
      expect(records.map((r) => JSON.parse(r.body).payload.sku)).toEqual(["hang"]);
      const [record] = records;
      expect(record!.attempts.at(-1)?.error.code).toBe("CRASH_LOOP");
      // Run alone with nothing waiting, a hung run keeps its count (proven); in company it is undone
      // and the backstop parks it: either way after a bounded number of runs.
      const runs = Number(await redis.get("hungRuns"));
      expect([crashLoopReason(LIMIT), unprovenCrashLoopReason(runs)]).toContain(record!.reason);
      expect(runs).toBeGreaterThanOrEqual(LIMIT);
      expect(runs).toBeLessThanOrEqual(CRASH_LOOP_BACKSTOP_FACTOR * LIMIT);

      // Every healthy message handled, once each, and none parked.
      const done = await redis.hgetall("done");
      expect(sent).toBeGreaterThan(10);
      const wrong = Array.from({ length: sent }, (_, i) => `ok-${i}`).filter((sku) => done[sku] !== "1");
      expect(wrong).toEqual([]);
      expect(children.every((child) => child.exitCode === null)).toBe(true);
    } finally {
      clearInterval(traffic);
      for (const child of children) await killConsumer(child);
      await transport.close();
    }
  }

  it("parks it with one instance, the healthy traffic handled once each", async () => {
    await parksTheHungMessage(1);
  }, 150_000);

  it("parks it with two instances, the healthy traffic handled once each", async () => {
    await parksTheHungMessage(2);
  }, 150_000);
});
