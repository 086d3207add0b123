/**
 * clocksync9: after a step of Redis's clock, each process follows it at its own next sync (every
 * 10 s). Meanwhile the gateway's `X-Gateway-Auth` credential, dated on the gateway's shared clock,
 * is out of the 30 s window of a service whose clock has not followed the same step as the
 * gateway's: 403 GATEWAY_AUTH_INVALID for up to 10 s, either way. Now a service re-syncs its clock
 * before refusing a genuine credential as out of its window, and the gateway, refused, re-syncs its
 * own and re-signs the call once.
 * Redis's clock cannot be stepped: each process's clock reads a `TIME` shifted by the test (as in
 * credential-clock.redis.test.ts), and syncs only when the test (or a refusal) says so.
 */
import { afterEach, expect, it } from "vitest";
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

describeWithRedis("the gateway's credential right after a step of Redis's clock", (getRedis) => {
  const platforms: Platform[] = [];
  let service: RunningService | undefined;
  let gateway: Gateway | undefined;
  const clocks: SharedClock[] = [];
  afterEach(async () => {
    await gateway?.stop();
    await service?.stop();
    for (const platform of platforms.splice(0)) await platform.close();
    for (const clock of clocks.splice(0)) clock.stop();
    gateway = undefined;
    service = undefined;
  });

  /** A gateway and a shipping service, each on its own clock, both synced before the step. */
  async function start() {
    await getRedis().flush();
    const redis = getRedis().client();
    const shift = { ms: 0 };
    const stepping = {
      time: async () => {
        const [seconds, micros] = await redis.time();
        const ms = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000) + shift.ms;
        return [Math.floor(ms / 1_000), (ms % 1_000) * 1_000];
      },
    };
    const clock = async () => {
      const made = await redisTimeClock({ redis: stepping, syncIntervalMs: 3_600_000 });
      clocks.push(made);
      return made;
    };
    const serviceClock = await clock();
    const servicePlatform = createRedisPlatform({ url: getRedis().url, clock: serviceClock });
    platforms.push(servicePlatform);
    service = await startService(createShippingService(), {
      events: AllEvents,
      platform: servicePlatform,
      port: 0,
      gatewaySecret: serviceCredentialSecret(SECRET, "shipping"),
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    const gatewayClock = await clock();
    const gatewayPlatform = createRedisPlatform({ url: getRedis().url, clock: gatewayClock });
    platforms.push(gatewayPlatform);
    gateway = await createGateway({
      platform: gatewayPlatform,
      port: 0,
      sharedSecret: SECRET,
      healthCheckIntervalMs: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
    });
    return { shift, serviceClock, gatewayClock, url: gateway.url };
  }

  const call = async (url: string) => {
    const res = await fetch(`${url}/shipments/parked`, { signal: AbortSignal.timeout(20_000) });
    return `${res.status} ${await res.text()}`;
  };

  it("answers 200 when the gateway has followed a 60 s backward step and the service has not", async () => {
    const { shift, gatewayClock, serviceClock, url } = await start();
    expect(await call(url)).toMatch(/^200 /);
    const serviceBefore = serviceClock.now();
    shift.ms = -60_000;
    await gatewayClock.sync();
    expect(await call(url)).toMatch(/^200 /);
    // The service re-synced before refusing (its clock follows the step), instead of answering 403.
    expect(serviceClock.now()).toBeLessThan(serviceBefore - 30_000);
  }, 60_000);

  it("answers 200 when the service has followed a 60 s backward step and the gateway has not", async () => {
    const { shift, gatewayClock, serviceClock, url } = await start();
    expect(await call(url)).toMatch(/^200 /);
    const gatewayBefore = gatewayClock.now();
    shift.ms = -60_000;
    await serviceClock.sync();
    expect(await call(url)).toMatch(/^200 /);
    // Refused once, the gateway re-synced its clock and re-signed the call.
    expect(gatewayClock.now()).toBeLessThan(gatewayBefore - 30_000);
  }, 60_000);

  it("answers 200 when only one of them has followed a 60 s forward step, either one", async () => {
    const { shift, gatewayClock, serviceClock, url } = await start();
    shift.ms = 60_000;
    await gatewayClock.sync();
    expect(await call(url)).toMatch(/^200 /);
    shift.ms = 120_000;
    await serviceClock.sync();
    expect(await call(url)).toMatch(/^200 /);
  }, 60_000);
});
