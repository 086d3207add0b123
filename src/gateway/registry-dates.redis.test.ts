/**
 * Break22 F6: `GET /services` showed each instance's `startedAt` and `lastHeartbeat` on its own host
 * clock (15 min in the future for a fast host; a slow one looked dead). Dates shown across hosts
 * now come from the platform's shared clock (Redis `TIME`), for services and the gateway alike.
 */
import { afterEach, expect, it, vi } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../lib/runtime/platform.js";
import { type RunningService, startService } from "../lib/runtime/service-host.js";
import { createShippingService } from "../services/shipping/service.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { steppableWallClock } from "../test-support/wall-clock.js";
import { createGateway, type Gateway } from "./gateway.js";

type Listed = { name: string; instances: { startedAt: string; lastHeartbeat: string }[] };

describeWithRedis("registry dates on a host whose clock is 15 min fast", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  let gateway: Gateway | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await gateway?.stop();
    await service?.stop();
    await platform?.close();
    gateway = undefined;
    service = undefined;
    platform = undefined;
  });

  it("GET /services shows startedAt and lastHeartbeat (after heartbeats too) on Redis's clock, not the host's", async () => {
    await getRedis().flush();
    steppableWallClock().step(15 * 60_000);
    platform = createRedisPlatform({ url: getRedis().url });
    service = await startService(createShippingService(), {
      events: AllEvents,
      platform,
      port: 0,
      heartbeatIntervalMs: 100,
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    gateway = await createGateway({
      platform,
      port: 0,
      healthCheckIntervalMs: 0,
      heartbeatIntervalMs: 100,
      logger: createLogger({ service: "gateway", level: "silent" }),
    });
    const url = `${gateway.url}/services`;
    // Once both have beaten since they registered: a heartbeat stamps lastHeartbeat again.
    const services = await waitFor(async () => {
      const res = await fetch(url, { signal: AbortSignal.timeout(20_000) });
      const body = (await res.json()) as { services: Listed[] };
      const all = body.services.flatMap((s) => s.instances);
      return all.length === 2 && all.every((i) => i.lastHeartbeat !== i.startedAt)
        ? body.services
        : undefined;
    }, 10_000);
    const [seconds] = await getRedis().client().time();
    const redisNow = Number(seconds) * 1_000;
    expect(services.map((s) => s.name)).toEqual(["gateway", "shipping"]);
    const shown = services.flatMap((s) => s.instances.flatMap((i) => [i.startedAt, i.lastHeartbeat]));
    expect(shown).toHaveLength(4);
    // Within a minute of Redis TIME (the host's clock says 15 min later).
    for (const date of shown) expect(Math.abs(Date.parse(date) - redisNow)).toBeLessThan(60_000);
  }, 60_000);
});
