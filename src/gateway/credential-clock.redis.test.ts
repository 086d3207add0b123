/**
 * break9 (note on the gateway credential): the gateway dated its `X-Gateway-Auth` credential with
 * its host clock while services check the 30 s replay window on Redis `TIME`: a gateway host 3 min
 * fast (or the whole system, the same) got 403 on every call. It now signs on the platform's shared
 * Redis-time clock, the one services check it on (DESIGN §6).
 */
import { afterEach, expect, it, vi } from "vitest";
import { AllEvents } from "../contracts/index.js";
import { serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../lib/runtime/platform.js";
import { type RunningService, startService } from "../lib/runtime/service-host.js";
import { createShippingService } from "../services/shipping/service.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway, type Gateway } from "./gateway.js";

const SECRET = "test-gateway-secret-0123456789abcdef";

describeWithRedis("the gateway's request credential on a fast host clock", (getRedis) => {
  let platform: Platform | undefined;
  let service: RunningService | undefined;
  let gateway: Gateway | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await gateway?.stop();
    await service?.stop();
    await platform?.close();
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
});
