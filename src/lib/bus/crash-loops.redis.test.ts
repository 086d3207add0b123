/**
 * Every crash loop ends in bounded crashes (break23 F1, F2), over real processes
 * (consumer-process.fixture.ts): a poison message that kills the process later than its hold is
 * held longer each time company joined it until it crashes alone, and a must-complete message that
 * fails and crashes by turns is parked by the backstop.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { itemStream, superviseConsumer } from "./consumer-process.supervisor.js";
import { CRASH_LOOP_BACKSTOP_FACTOR, crashLoopReason, unprovenCrashLoopReason } from "./retry-policy.js";

describeWithRedis("crash loops over real processes", (getRedis) => {
  async function setup() {
    await getRedis().flush();
    const redis = getRedis().client();
    const { deadLetters, transport, publish, pending: pendingIn } = await itemStream(redis, ["crashy"]);
    const pending = () => pendingIn("crashy");
    const skus = async () =>
      (await deadLetters.list({})).map((r) => JSON.parse(r.body).payload.sku as string);
    return { redis, deadLetters, transport, publish, pending, skus };
  }

  it("parks a poison message that kills the process after its hold, beside steady traffic; the traffic is all handled", async () => {
    const { redis, deadLetters, transport, publish, pending, skus } = await setup();
    let sent = 0;
    let traffic: NodeJS.Timeout | undefined;
    const publishing = new Set<Promise<unknown>>();
    try {
      await publish("poison");
      // Healthy traffic every 50 ms until the poison is parked: there is always company waiting.
      traffic = setInterval(() => {
        const sending = publish(`ok-${sent++}`);
        publishing.add(sending);
        void sending.finally(() => publishing.delete(sending));
      }, 50);
      // Done when the poison is parked and every healthy message sent is handled: an entry not read
      // yet is not pending, so "nothing pending" alone could end the run before the traffic is in.
      const settled = async () => {
        if ((await skus()).length === 0) return false;
        clearInterval(traffic);
        await Promise.allSettled([...publishing]);
        if ((await pending()) !== 0) return false;
        return (await redis.hlen("done")) >= sent;
      };
      const { exits, survived } = await superviseConsumer(
        {
          REDIS_URL: getRedis().url,
          GROUP: "crashy",
          BEHAVIOUR: "slowpoison",
          ISOLATION_MS: "300",
          POISON_MS: "900",
        },
        settled,
      );
      // Holds of 300 and 600 ms: company joins, its count is undone; then 1.2 s: it crashes alone.
      const records = await deadLetters.list({ group: "crashy" });
      expect(records.map((r) => [JSON.parse(r.body).payload.sku, r.reason])).toEqual([
        ["poison", crashLoopReason(3)],
      ]);
      expect(exits.length).toBeLessThanOrEqual(6);
      expect(exits.every((code) => code === 7)).toBe(true);
      expect(survived).toBe(true);
      const done = await redis.hgetall("done");
      expect(sent).toBeGreaterThan(20);
      const missing = Array.from({ length: sent }, (_, i) => `ok-${i}`).filter((sku) => !done[sku]);
      expect(missing).toEqual([]);
    } finally {
      clearInterval(traffic);
      await transport.close();
    }
  }, 240_000);

  it("parks a must-complete message that fails and crashes the process by turns (the backstop)", async () => {
    const { deadLetters, transport, publish } = await setup();
    try {
      await publish("flaky");
      const parked = async () => (await deadLetters.list({})).length > 0;
      const { exits, survived } = await superviseConsumer(
        {
          REDIS_URL: getRedis().url,
          GROUP: "crashy",
          BEHAVIOUR: "flaky",
          ISOLATION_MS: "300",
          MAX_SILENT: "2",
        },
        parked,
        { maxStarts: 10 },
      );
      // Each crash follows a failure that explained the one before, so none is proven its own:
      // the backstop parks it after 3 x 2 silent deliveries.
      const records = await deadLetters.list({ group: "crashy" });
      expect(records.map((r) => r.reason)).toEqual([unprovenCrashLoopReason(CRASH_LOOP_BACKSTOP_FACTOR * 2)]);
      expect(exits).toEqual(Array(CRASH_LOOP_BACKSTOP_FACTOR * 2).fill(7));
      expect(survived).toBe(true);
    } finally {
      await transport.close();
    }
  }, 240_000);
});
