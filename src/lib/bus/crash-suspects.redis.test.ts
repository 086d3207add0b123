/**
 * Crash suspects over real processes (break21 N1, N2): only the message that kills the process is
 * parked, however long the healthy ones beside it run and whichever subscription of the process
 * they belong to. The consumer process is consumer-process.fixture.ts.
 */
import { expect, it } from "vitest";
import { describeWithRedis } from "../../test-support/redis.js";
import { itemStream, superviseConsumer } from "./consumer-process.supervisor.js";

const CRASH_LOOP = "delivered 3 times without an outcome (the consumer crashed or was killed)";

describeWithRedis("crash suspects over real processes", (getRedis) => {
  /** Publishes `skus` after creating `groups`; returns the dead letters and a stop. */
  async function setup(groups: string[], skus: string[]) {
    await getRedis().flush();
    const { deadLetters, transport, publish, pending } = await itemStream(getRedis().client(), groups);
    for (const sku of skus) await publish(sku);
    /** Every group has something dead-lettered or nothing pending. */
    const settled = async () => {
      for (const group of groups) if ((await pending(group)) > 0) return false;
      return (await deadLetters.list({})).length > 0;
    };
    return { deadLetters, transport, settled };
  }

  /** The fixture with BEHAVIOUR exitslow (group "crashy"), `env` added, until `settled`. */
  const supervise = (env: Record<string, string>, settled: () => Promise<boolean>) =>
    superviseConsumer({ REDIS_URL: getRedis().url, BEHAVIOUR: "exitslow", ...env }, settled);

  const skuOf = (body: string): string => JSON.parse(body).payload.sku;

  it("a healthy message that outlives its run alone is not parked with the poison one after it", async () => {
    const { deadLetters, transport, settled } = await setup(["crashy"], ["slow", "poison"]);
    try {
      // The slow one (1.5 s) runs first after each crash and outlives the 300 ms hold.
      const { exits, survived } = await supervise({ ISOLATION_MS: "300" }, settled);
      const records = await deadLetters.list({ group: "crashy" });
      expect(records.map((r) => skuOf(r.body))).toEqual(["poison"]);
      expect(records[0]?.reason).toBe(CRASH_LOOP);
      expect(exits).toEqual([7, 7, 7]);
      expect(survived).toBe(true);
    } finally {
      await transport.close();
    }
  }, 240_000);

  it("a message that kills the process in one group is not parked in another group of the process", async () => {
    const { deadLetters, transport, settled } = await setup(["crashy", "slowg"], ["poison"]);
    try {
      // Group slowg's handler takes 1.5 s on it and returns; crashy's exits the process.
      const { exits, survived } = await supervise({ SLOW_GROUP: "slowg" }, settled);
      expect(await deadLetters.list({ group: "slowg" })).toEqual([]);
      const records = await deadLetters.list({ group: "crashy" });
      expect(records.map((r) => [skuOf(r.body), r.reason])).toEqual([["poison", CRASH_LOOP]]);
      expect(exits).toEqual([7, 7, 7]);
      expect(survived).toBe(true);
    } finally {
      await transport.close();
    }
  }, 240_000);
});
