import { describe, expect, it } from "vitest";
import { describeWithRedis } from "../../../test-support/redis.js";
import { claimIdleScript } from "./redis-streams-scripts.js";

/** Calls per command since the last CONFIG RESETSTAT (INFO's own call is counted after its reply). */
function callsByCommand(info: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
  return calls;
}

describeWithRedis("the idle claim script", (getRedis) => {
  describe("an idle round (nothing idle long enough to take over)", () => {
    it("asks Redis for nothing but XPENDING: no INFO per stream per round", async () => {
      const redis = getRedis().client();
      const stream = "{claim-test}:ev:quiet";
      await redis.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
      await redis.xadd(stream, "*", "f", "v");
      // Pending, but handled just now: not idle for the 60 s the round asks.
      await redis.xreadgroup("GROUP", "g", "c1", "COUNT", 10, "STREAMS", stream, ">");
      await redis.config("RESETSTAT");
      for (let round = 0; round < 3; round++) {
        const reply = await claimIdleScript.run(redis, [stream], ["g", "c2", 60_000, "0-0", 64]);
        expect(reply).toEqual(["0-0", [], [], []]);
      }
      const calls = callsByCommand(await redis.info("commandstats"));
      expect(calls.get("info") ?? 0).toBe(0);
      expect(calls.get("xpending")).toBe(3);
    });
  });
});
