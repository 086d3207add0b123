import { afterEach, expect, it, vi } from "vitest";
import { z } from "zod";
import { childTraceparent, encodeEnvelope, newMessageId } from "../bus/envelope.js";
import { defineEvents } from "../bus/events.js";
import { eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { redisTimeClock } from "../redis/clock.js";
import { getProcessKeyring } from "../security/process-keys.js";
import { createSigner } from "../security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";

const Events = defineEvents("clocked", {
  "clocked.tick": { schema: z.object({ n: z.number() }), description: "a message whose age is read" },
});

describeWithRedis("the Redis platform", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    await service?.stop();
    service = undefined;
    await platform?.close();
    platform = undefined;
  });

  it("gives the process one clock: message ages in the transport and the service host are read on the platform's", async () => {
    const DAY = 86_400_000;
    const real = await redisTimeClock({ redis: getRedis().client() });
    // A shared clock a day ahead of Redis: every age read through it is a day too old.
    const clock = {
      now: () => real.now() + DAY,
      sync: () => real.sync(),
      resync: () => real.resync(),
      recentBackwardStepMs: () => real.recentBackwardStepMs(),
      onStep: real.onStep,
      stop: () => real.stop(),
    };
    try {
      platform = createRedisPlatform({ url: getRedis().url, clock });
      expect(await platform.clock()).toBe(clock);
      const time = vi.spyOn(platform.redis!, "time");
      const ages: number[] = [];
      service = await startService(
        {
          name: "clocked",
          version: "1.0.0",
          create: (deps) => ({
            subscribers: [
              deps.subscriber().on("clocked.tick", (_p, ctx) => void ages.push(ctx.ageMs())) as never,
            ],
          }),
        },
        { events: Events, platform, port: 0, logLevel: "silent" },
      );
      const id = newMessageId();
      const body = encodeEnvelope({
        id,
        event: "clocked.tick",
        version: 1,
        occurredAt: new Date().toISOString(),
        source: { service: "clocked", instance: "clocked-1" },
        correlationId: "c-1",
        traceparent: childTraceparent(),
        attributes: {},
        payload: { n: 1 },
      });
      const signed = createSigner(getProcessKeyring(), "clocked").sign(body, "clocked");
      await platform.transport.publish([{ topic: "clocked.tick", owner: "clocked", id, body: signed }]);
      await waitFor(() => ages.length === 1, 60_000, "the message handled");
      // A day old on the shared clock (minus what the handling took, with a loaded machine's margin).
      expect(ages[0]).toBeGreaterThan(DAY - 60_000);
      expect(ages[0]).toBeLessThan(DAY + 60_000);
      // No second clock was started on the connection (none measured its own offset).
      expect(time).not.toHaveBeenCalled();
    } finally {
      real.stop();
    }
  }, 150_000);

  it("runs no trim loop in its transport: a service's owned-stream trimmer is the only one", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    platform = createRedisPlatform({ url: getRedis().url });
    const redis = platform.redis!;
    const ref = { topic: "thing.happened", owner: "loop-check" };
    const key = eventStreamKey(ref.owner, ref.topic);
    await platform.transport.ensureGroups("reader", [ref]);
    await platform.transport.publish([1, 2, 3].map((n) => ({ ...ref, id: `m${n}`, body: `body ${n}` })));
    const read = (await redis.xreadgroup("GROUP", "reader", "c", "STREAMS", key, ">")) as [
      string,
      [string, string[]][],
    ][];
    await redis.xack(key, "reader", ...read[0]![1].map(([id]) => id));
    // Hours of the transport's timers: a loop of its own would have trimmed the acked entries.
    await vi.advanceTimersByTimeAsync(3 * 3_600_000);
    for (let n = 0; n < 3; n++) await redis.ping(); // whatever a timer sent has been answered
    expect(await redis.xlen(key)).toBe(3);
  });
});
