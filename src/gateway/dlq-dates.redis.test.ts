/**
 * The DLQ's audit dates sit next to the records' `deadLetteredAt`, which services write on Redis
 * TIME: the gateway dates them on the same shared clock, not its host's (a gateway host 2 h fast
 * wrote audit entries 2 h after the record they act on).
 */
import { afterEach, expect, it } from "vitest";
import { createLogger } from "../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../lib/runtime/platform.js";
import { describeWithRedis } from "../test-support/redis.js";
import { createGateway, type Gateway } from "./gateway.js";

describeWithRedis("the DLQ's audit entries on a gateway whose host clock is off", (getRedis) => {
  let platform: Platform | undefined;
  let gateway: Gateway | undefined;
  afterEach(async () => {
    await gateway?.stop();
    await platform?.close();
  });

  it("are dated on Redis's clock", async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    gateway = await createGateway({
      platform,
      port: 0,
      healthCheckIntervalMs: 0,
      logger: createLogger({ service: "gateway", level: "silent" }),
      now: () => Date.now() + 2 * 3_600_000,
    });
    const id = "payment|order.placed|1-0";
    await platform.deadLetters.add({
      id,
      group: "payment",
      topic: "order.placed",
      owner: "order",
      deliveryId: "1-0",
      body: "{bad",
      reason: "invalid envelope",
      attempts: [],
      deadLetteredAt: new Date().toISOString(),
      status: "dead",
      retries: 0,
    });
    const archive = await fetch(`${gateway.url}/dlq/${encodeURIComponent(id)}/archive`, { method: "POST" });
    expect(archive.status).toBe(200);
    const [seconds] = await getRedis().client().time();
    const [entry] = await platform.deadLetters.audit(id);
    expect(Math.abs(Date.parse(entry!.at) - Number(seconds) * 1000)).toBeLessThan(60_000);
  });
});
