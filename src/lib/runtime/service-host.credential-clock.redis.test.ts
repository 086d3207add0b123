/**
 * Issue 8 input 5 meets issue 12's gateway credential: a service whose clock is a minute off (the
 * `clock-skew` fault) still serves the gateway's signed calls, because the credential's 30 s replay
 * window is checked on Redis's clock, not on the host's.
 */
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { gatewayHeaders, signGatewayRequest } from "../http/gateway-credential.js";
import { createLogger } from "../observability/logger.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { createRedisPlatform, type Platform } from "./platform.js";
import { type RunningService, startService } from "./service-host.js";
import { createShippingService } from "../../services/shipping/service.js";

const SECRET = "test-gateway-secret-0123456789abcdef";

describeWithRedis("gateway credential on a host whose clock is off", (getRedis) => {
  let running: RunningService | undefined;
  let platform: Platform | undefined;
  afterEach(async () => {
    await running?.stop();
    await platform?.close();
  });

  it("accepts a gateway-signed call from a gateway on the right clock when this host's clock is 60 s ahead", async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    running = await startService(createShippingService(), {
      events: AllEvents,
      platform,
      port: 0,
      gatewaySecret: SECRET,
      now: () => Date.now() + 60_000,
      logger: createLogger({ service: "shipping", level: "silent" }),
    });
    const url = `${running.url}/shipments/o-1`;
    const signed = await fetch(url, { headers: gatewayHeaders(SECRET, "GET", url) });
    expect(signed.status).toBe(404);
    // Still a credential: a call signed two minutes ago is refused, unsigned calls too.
    const { pathname } = new URL(url);
    const stale = await fetch(url, {
      headers: { "x-gateway-auth": signGatewayRequest(SECRET, "GET", pathname, Date.now() - 120_000) },
    });
    expect(stale.status).toBe(403);
    expect((await fetch(url)).status).toBe(401);
  });
});
