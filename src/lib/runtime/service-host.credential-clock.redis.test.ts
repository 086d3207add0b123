/**
 * Issue 8 input 5 meets issue 12's gateway credential: a service whose host clock is a minute off
 * (the `clock-skew` fault shifts `Date.now()` of the process) still serves the gateway's signed
 * calls, because the credential's 30 s replay window is checked on the platform's shared clock
 * (Redis `TIME`), not on the host's.
 */
import { afterEach, expect, it, vi } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { GATEWAY_AUTH_HEADER, signGatewayRequest } from "../http/gateway-credential.js";
import { createLogger } from "../observability/logger.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";
import { createShippingService } from "../../services/shipping/service.js";

const SECRET = "test-gateway-secret-0123456789abcdef";
const SKEW_MS = 60_000;

describeWithRedis("gateway credential on a host whose clock is off", (getRedis) => {
  let running: RunningService | undefined;
  let platform: Platform | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await running?.stop();
    await platform?.close();
  });

  it("accepts a call the gateway signed on the right clock when this host's clock is 60 s ahead", async () => {
    const realNow = Date.now.bind(Date);
    // Like the clock-skew fault's hook: this host's wall clock is a minute ahead.
    vi.spyOn(Date, "now").mockImplementation(() => realNow() + SKEW_MS);
    platform = createRedisPlatform({ url: getRedis().url });
    running = await startService(createShippingService(), {
      events: AllEvents,
      platform,
      port: 0,
      gatewaySecret: SECRET,
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    const path = "/shipments/o-1";
    const call = (at: number) =>
      fetch(`${running!.url}${path}`, {
        headers: { [GATEWAY_AUTH_HEADER]: signGatewayRequest(SECRET, "GET", path, at) },
      });
    expect((await call(realNow())).status).toBe(404);
    // Still a credential: a call signed two minutes ago is refused, an unsigned one too.
    expect((await call(realNow() - 120_000)).status).toBe(403);
    expect((await fetch(`${running.url}${path}`)).status).toBe(401);
  });
});
