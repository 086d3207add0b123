/**
 * break9 F2: a service instance whose host clock runs 3 min fast dated its messages (UUIDv7 id,
 * `occurredAt`) by that clock, and consumers, which date a delivery on Redis `TIME`, deferred each
 * as created in the future until its time: every order failed at its step timeout. Publishers now
 * date messages on the platform's shared Redis-time clock (DESIGN §6), so the host's setting plays
 * no part and the consumer runs them at once.
 */
import { afterEach, expect, it, vi } from "vitest";
import { z } from "zod";
import type { Envelope } from "../bus/envelope.js";
import { defineEvents } from "../bus/events.js";
import type { Publisher } from "../bus/publisher.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";

const Events = defineEvents("dated", {
  "dated.ping": { schema: z.object({ n: z.number() }), description: "a message a consumer dates" },
});

/** Epoch ms of a UUIDv7's time field. */
const idMs = (id: string) => Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);

describeWithRedis("messages of a publisher whose host clock is fast", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await service?.stop();
    await platform?.close();
  });

  it("are dated on Redis time, within the skew margin, and run at once (host clock 3 min fast)", async () => {
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 180_000);
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
    let publisher: Publisher<typeof Events> | undefined;
    const ran: number[] = [];
    service = await startService(
      {
        name: "dated",
        version: "1.0.0",
        create: (deps) => {
          publisher = deps.publisher as Publisher<typeof Events>;
          return { subscribers: [deps.subscriber().on("dated.ping", (p) => void ran.push(p.n)) as never] };
        },
      },
      { events: Events, platform, port: 0, logLevel: "silent" },
    );
    const sent: Envelope[] = [];
    for (const n of [1, 2, 3]) sent.push(await publisher!.publish("dated.ping", { n }));
    const [seconds, micros] = await platform.redis!.time();
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    for (const envelope of sent) {
      // Well inside the 1-min margin of Redis time (the host is 180 s ahead).
      expect(Math.abs(idMs(envelope.id) - redisNow)).toBeLessThan(10_000);
      expect(Math.abs(Date.parse(envelope.occurredAt) - redisNow)).toBeLessThan(10_000);
    }
    // Deferred, they would wait 2 min: at once is seconds (margin for a loaded machine).
    await waitFor(() => ran.length === 3, 30_000, "all three handled");
    expect([...ran].sort()).toEqual([1, 2, 3]);
    const metrics = await service.metrics.metricsText();
    expect(metrics).not.toMatch(/ordersaga_messages_created_in_future_total\{[^}]*\} [1-9]/);
  }, 90_000);
});
