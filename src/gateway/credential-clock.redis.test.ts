/**
 * break9 (note on the gateway credential): the gateway dated its `X-Gateway-Auth` credential with
 * its host clock while services check the 30 s replay window on Redis `TIME`: a gateway host 3 min
 * fast (or the whole system, the same) got 403 on every call. It now signs on the platform's shared
 * Redis-time clock, the one services check it on (DESIGN §6).
 *
 * break11 F1: when Redis's own clock stepped back a minute, that shared clock froze at its old high
 * value in the running gateway, so a service started after the step refused its credential (dated
 * in its future) for minutes. The gateway's clock now follows the step at its next sync.
 */
import { afterEach, expect, it, vi } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { createLogger } from "../lib/observability/logger.js";
import { redisTimeClock, type SharedClock } from "../lib/redis/clock.js";
import { createRedisPlatform, type Platform } from "../lib/runtime/platform.js";
import { type RunningService, startService } from "../lib/runtime/service-host.js";
import { createShippingService } from "../services/shipping/service.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway, type Gateway } from "./gateway.js";

const SECRET = "test-gateway-secret-0123456789abcdef";

describeWithRedis("the gateway's request credential on a fast host clock", (getRedis) => {
  let platform: Platform | undefined;
  let gatewayPlatform: Platform | undefined;
  let service: RunningService | undefined;
  let gateway: Gateway | undefined;
  const clocks: SharedClock[] = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    await gateway?.stop();
    await service?.stop();
    await platform?.close();
    await gatewayPlatform?.close();
    for (const clock of clocks.splice(0)) clock.stop();
    gateway = undefined;
    service = undefined;
    platform = undefined;
    gatewayPlatform = undefined;
  });

  it("is accepted by a service when the gateway's (and the service's) host clock is 3 min fast", async () => {
    const realNow = Date.now.bind(Date);
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + 180_000);
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
    service = await startService(createShippingService(), {
      events: AllEvents,
      platform,
      port: 0,
      // What the launcher gives each service: its own secret, derived from the gateway's master.
      gatewaySecret: serviceCredentialSecret(SECRET, "shipping"),
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    gateway = await createGateway({
      platform,
      port: 0,
      sharedSecret: SECRET,
      healthCheckIntervalMs: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
    });
    const res = await fetch(`${gateway.url}/shipments/parked`, { signal: AbortSignal.timeout(20_000) });
    expect(`${res.status} ${await res.clone().text()}`).toMatch(/^200 /);
    expect(await res.json()).toMatchObject({ parked: [] });
  }, 60_000);

  it("is accepted by a service started after Redis's clock stepped back 60 s, once the gateway's clock re-syncs (break11 F1)", async () => {
    await getRedis().flush();
    const redis = getRedis().client();
    // Redis TIME as the Redis host's clock would give it after an NTP step of `shiftMs`.
    let shiftMs = 0;
    const stepping = {
      time: async () => {
        const [seconds, micros] = await redis.time();
        const ms = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000) + shiftMs;
        return [Math.floor(ms / 1_000), (ms % 1_000) * 1_000];
      },
    };
    // Syncs only when the test says so (the 10 s period, made deterministic).
    const clockNow = async () => {
      const clock = await redisTimeClock({ redis: stepping, syncIntervalMs: 3_600_000 });
      clocks.push(clock);
      return clock;
    };
    const gatewayClock = await clockNow();
    gatewayPlatform = createRedisPlatform({ url: getRedis().url, clock: gatewayClock });
    gateway = await createGateway({
      platform: gatewayPlatform,
      port: 0,
      sharedSecret: SECRET,
      healthCheckIntervalMs: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
    });
    const gatewayAt = gatewayClock.now();

    shiftMs = -60_000; // the Redis host's clock steps back a minute
    platform = createRedisPlatform({ url: getRedis().url, clock: await clockNow() });
    service = await startService(createShippingService(), {
      events: AllEvents,
      platform,
      port: 0,
      gatewaySecret: serviceCredentialSecret(SECRET, "shipping"),
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    await gatewayClock.sync(); // the gateway's next periodic sync
    // Redis's time now, not the old value held until real time catches up (a minute later).
    expect(gatewayClock.now()).toBeLessThan(gatewayAt - 30_000);

    const res = await fetch(`${gateway.url}/shipments/parked`, { signal: AbortSignal.timeout(20_000) });
    expect(`${res.status} ${await res.clone().text()}`).toMatch(/^200 /);
    const steps = await gateway.metrics.registry.getSingleMetric("ordersaga_clock_steps_total")?.get();
    expect(steps?.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: expect.objectContaining({ direction: "backward" }), value: 1 }),
        expect.objectContaining({ labels: expect.objectContaining({ direction: "forward" }), value: 0 }),
      ]),
    );
  }, 60_000);
});
