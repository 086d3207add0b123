/**
 * break24 F3: a consumer dated its attempts and dead letters on its host's wall clock. A payment
 * host 2 h slow dated its dead letters 2 h back, and `DELETE /dlq?olderThan=<now - 1 h>` purged them
 * 7 s after they were written (a host ahead: its records escape purges and time filters). They are
 * dated on the platform's shared clock (Redis TIME), as every other date other hosts read.
 */
import { afterEach, expect, it, vi } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { createLogger } from "../observability/logger.js";
import { Keyring } from "../security/keyring.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";
import { steppableWallClock } from "../../test-support/wall-clock.js";

const Events = defineEvents("sender", {
  "sender.happened": { schema: z.object({ n: z.number() }), description: "a test event" },
});

describeWithRedis("a dead letter written by a consumer whose host clock is 2 h slow", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await service?.stop();
    service = undefined;
    await platform?.close();
  });

  it("is dated on Redis's clock", async () => {
    steppableWallClock().step(-2 * 3_600_000);
    platform = createRedisPlatform({ url: getRedis().url });
    service = await startService(
      {
        name: "listener",
        version: "1.0.0",
        create: (deps) => ({
          subscribers: [deps.subscriber().on("sender.happened", () => undefined) as never],
        }),
      },
      {
        events: Events,
        platform,
        port: 0,
        logger: createLogger({ service: "listener", level: "silent" }),
        keyring: Keyring.generate(["listener", "sender"]),
      },
    );
    // An unsigned entry (anyone with XADD): dead-lettered as SIGNATURE_INVALID before any handling.
    await getRedis().client().xadd(eventStreamKey("sender", "sender.happened"), "*", "b", '{"n":1}');
    const deadLetters = platform.deadLetters;
    await waitFor(async () => (await deadLetters.list()).length === 1, 10_000, "the dead letter");
    const [record] = await deadLetters.list();
    const [seconds] = await getRedis().client().time();
    expect(Math.abs(Date.parse(record!.deadLetteredAt) - Number(seconds) * 1000)).toBeLessThan(60_000);
  });
});
