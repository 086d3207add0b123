/**
 * clocksync9 on real Redis Streams: Redis's clock steps back; a running consumer service follows
 * the step at its sync, a running publisher has not synced yet and dates its message on the old
 * time, ahead of the consumer by the step. The consumer used to dead-letter it as
 * `CREATED_IN_FUTURE` (a real order's message, stopped until an operator retried it); it now runs
 * it: its clock followed a backward step of that size within the last minute.
 * Redis's clock cannot be stepped: the processes' clocks read a `TIME` shifted by the test. The
 * time before the step is Redis's + 90 s, after it Redis's own (the one stream entry ids carry,
 * as they would after a real step). 90 s, not 60: on real Redis time passes between publishing
 * and checking, and a message less than the 60 s margin ahead runs anyway.
 */
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { Publisher } from "../bus/publisher.js";
import { redisTimeClock, type SharedClock } from "../redis/clock.js";
import { getProcessKeyring } from "../security/process-keys.js";
import { createSigner } from "../security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";

const Events = defineEvents("stepped", {
  "stepped.order": { schema: z.object({ n: z.number() }), description: "a message dated before a step" },
});

describeWithRedis("a delivery dated by a publisher that has not followed a backward step yet", (getRedis) => {
  const platforms: Platform[] = [];
  const clocks: SharedClock[] = [];
  let service: RunningService | undefined;
  afterEach(async () => {
    await service?.stop();
    service = undefined;
    for (const platform of platforms.splice(0)) await platform.close();
    for (const clock of clocks.splice(0)) clock.stop();
  });

  it("is handled, not dead-lettered CREATED_IN_FUTURE, by a consumer that has", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    let shiftMs = 90_000;
    const stepping = {
      time: async () => {
        const [seconds, micros] = await redis.time();
        const ms = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000) + shiftMs;
        return [Math.floor(ms / 1_000), (ms % 1_000) * 1_000];
      },
    };
    const clock = async () => {
      const made = await redisTimeClock({ redis: stepping, syncIntervalMs: 3_600_000 });
      clocks.push(made);
      return made;
    };
    const consumerClock = await clock();
    const consumerPlatform = createRedisPlatform({ url: getRedis().url, clock: consumerClock });
    platforms.push(consumerPlatform);
    const handled: number[] = [];
    service = await startService(
      {
        name: "stepped",
        version: "1.0.0",
        create: (deps) => ({
          subscribers: [
            deps.subscriber().on("stepped.order", (payload) => void handled.push(payload.n)) as never,
          ],
        }),
      },
      { events: Events, platform: consumerPlatform, port: 0, logLevel: "silent" },
    );
    const publisherClock = await clock();
    const publisherPlatform = createRedisPlatform({ url: getRedis().url, clock: publisherClock });
    platforms.push(publisherPlatform);
    const publisher = new Publisher({
      events: Events,
      transport: publisherPlatform.transport,
      source: { service: "stepped", instance: "stepped-publisher" },
      signer: createSigner(getProcessKeyring(), "stepped"),
      clock: () => publisherClock.now(),
    });

    shiftMs = 0; // Redis's clock steps back 90 s
    await consumerClock.sync(); // the consumer's periodic sync comes first
    await publisher.publish("stepped.order", { n: 1 }); // the publisher's has not
    const createdInFuture = () =>
      service!.metrics.registry.getSingleMetric("ordersaga_messages_created_in_future_total")?.get();
    await waitFor(
      async () => handled.length > 0 || ((await createdInFuture())?.values ?? []).some((v) => v.value > 0),
      60_000,
      "the message handled or dead-lettered",
    );
    expect(handled).toEqual([1]);
    expect(((await createdInFuture())?.values ?? []).filter((v) => v.value > 0)).toEqual([]);
  }, 120_000);
});
