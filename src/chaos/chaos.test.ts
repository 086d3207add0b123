/**
 * The short, deterministic slice of `npm run chaos` that runs in `npm test`: fixed seeds, the whole
 * system embedded over a private Redis, the oracle over every order. Faults that need separate
 * processes (kill -9, SIGSTOP) run only in `npm run chaos`; here: the token mix (declines, card
 * errors, flaky and late answers, cancels) and duplicated, reordered deliveries on the real streams.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "../system/embedded.js";
import { describeWithRedis } from "../test-support/redis.js";
import { cutConnectionsRepeatedly } from "./faults.js";
import { check } from "./oracle.js";
import { eventStreams } from "./system.js";
import { placeOrders, seededRandom, settle, setupRun } from "./workload.js";

describeWithRedis("fault suite slice (embedded over Redis, fixed seeds)", (getRedis) => {
  let system: EmbeddedSystem;
  beforeAll(async () => {
    system = await startEmbeddedSystem({
      platform: createRedisPlatform({ url: getRedis().url }),
      gatewayPort: 0,
      logLevel: "silent",
    });
  }, 60_000);
  afterAll(() => system?.stop());

  const run = async (seed: number, during: (random: () => number) => Promise<void>) => {
    const api = createApiClient(system.gatewayUrl);
    const random = seededRandom(seed);
    const options = { orders: 8 };
    const setup = await setupRun(api, random, options);
    const [placed] = await Promise.all([placeOrders(api, random, options, setup), during(random)]);
    return check(await settle(api, placed, 40_000, 200));
  };

  it("the token mix with cancels keeps every invariant (seed 7)", async () => {
    const verdict = await run(7, async () => {});
    expect(verdict).toEqual({ "I-terminal": [], "I-stock": [], "I-money": [], "I-once": [] });
  }, 60_000);

  it("duplicated and reordered deliveries keep every invariant (seed 11)", async () => {
    const redis = getRedis().client();
    const verdict = await run(11, async (random) => {
      for (let round = 0; round < 5; round++) {
        await new Promise((r) => setTimeout(r, 150));
        // Streams only: the pattern also matches their bookkeeping keys (a read-to mark is a string).
        const streams = await eventStreams(redis);
        for (let i = 0; i < 4 && streams.length > 0; i++) {
          const stream = streams[Math.floor(random() * streams.length)]!;
          const [entry] = await redis.xrevrange(stream, "+", "-", "COUNT", 1 + Math.floor(random() * 5));
          if (entry) await redis.xadd(stream, "*", ...entry[1]);
        }
      }
    });
    expect(verdict).toEqual({ "I-terminal": [], "I-stock": [], "I-money": [], "I-once": [] });
  }, 60_000);

  it("connections cut mid-flight keep every invariant: lost replies are not run twice (seed 13)", async () => {
    const redis = getRedis().client();
    const verdict = await run(13, (random) =>
      cutConnectionsRepeatedly(() => redis.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"), random),
    );
    expect(verdict).toEqual({ "I-terminal": [], "I-stock": [], "I-money": [], "I-once": [] });
  }, 90_000);
});
