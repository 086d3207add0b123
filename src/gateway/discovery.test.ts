import { afterEach, describe, expect, it } from "vitest";
import type { DeadLetterRecord } from "../lib/dlq/dead-letter-store.js";
import { createLogger } from "../lib/observability/logger.js";
import { createMemoryPlatform, createRedisPlatform, type Platform } from "../lib/runtime/platform.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { createGateway, type Gateway } from "./gateway.js";
import { startTestUpstream, type TestUpstream, useTestGateway } from "./test-upstream.js";

const quiet = () => createLogger({ service: "gateway", level: "silent" });

describe("gateway: discovery", () => {
  const harness = useTestGateway();

  it("registers itself as service gateway and deregisters on stop", async () => {
    const gw = await harness.start();
    const [self] = await gw.registry.list("gateway");
    expect(self).toMatchObject({
      instanceId: gw.gateway.instanceId,
      port: gw.gateway.port,
      status: "healthy",
    });
    await harness.stopGateway();
    expect(await gw.registry.list("gateway")).toEqual([]);
  });

  it("runs the health checker: a dead instance is deregistered and no longer routed to", async () => {
    const gw = await harness.start({
      healthCheckIntervalMs: 30,
      healthCheckTimeoutMs: 10_000, // the live instance must not time out on a loaded machine; the dead one refuses at once
      unhealthyThreshold: 2,
    });
    const a = await harness.upstream("user", "user-a");
    const b = await harness.upstream("user", "user-b");
    await a.close();
    await waitFor(async () => (await gw.registry.list("user")).length === 1, 15_000, "deregistration");
    const [left] = await gw.registry.list("user");
    expect(left?.instanceId).toBe("user-b");
    for (let i = 0; i < 4; i++) expect((await fetch(`${gw.url}/users/u-${i}`)).status).toBe(200);
    expect(b.hits).toHaveLength(4);
  });
});

describeWithRedis("gateway over a Redis platform", (getRedis) => {
  let platform: Platform | undefined;
  let gateway: Gateway | undefined;
  let upstream: TestUpstream | undefined;
  afterEach(async () => {
    await upstream?.close();
    await gateway?.stop();
    await platform?.close();
    upstream = undefined;
    gateway = undefined;
    platform = undefined;
  });

  it("finds instances in the Redis registry, lists itself, and forwards", async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    gateway = await createGateway({ platform, port: 0, logger: quiet(), healthCheckIntervalMs: 0 });
    upstream = await startTestUpstream(platform.registry, "order", "order-r1", () => ({
      status: 202,
      body: { orderId: "o-1", status: "pending" },
    }));
    const res = await fetch(`${gateway.url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": "k" },
      body: JSON.stringify({
        userId: "u-1",
        items: [{ productId: "p-1", quantity: 1 }],
        payment: { token: "tok_visa" },
      }),
    });
    expect(res.status).toBe(202);
    expect(upstream.hits).toHaveLength(1);
    const services = (await (await fetch(`${gateway.url}/services`)).json()) as {
      services: { name: string }[];
    };
    expect(services.services.map((s) => s.name)).toEqual(["gateway", "order"]);
  });

  it("serves the DLQ of the Redis platform", async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    gateway = await createGateway({ platform, port: 0, logger: quiet(), healthCheckIntervalMs: 0 });
    await platform.deadLetters.add(badEnvelopeRecord());
    const list = (await (await fetch(`${gateway.url}/dlq?group=payment`)).json()) as {
      items: { id: string }[];
    };
    expect(list.items.map((r) => r.id)).toEqual(["payment|order.placed|1-0"]);
    const retry = await fetch(`${gateway.url}/dlq/${encodeURIComponent("payment|order.placed|1-0")}/retry`, {
      method: "POST",
    });
    expect(retry.status).toBe(200);
  });
  // The DLQ's audit dates sit next to the records' deadLetteredAt, which services write on Redis
  // TIME: a gateway host 2 h fast dated audit entries 2 h after the record they act on.
  it("dates the DLQ's audit entries on Redis's clock, not on its host's", async () => {
    platform = createRedisPlatform({ url: getRedis().url });
    gateway = await createGateway({
      platform,
      port: 0,
      logger: quiet(),
      healthCheckIntervalMs: 0,
      now: () => Date.now() + 2 * 3_600_000,
    });
    const record = badEnvelopeRecord();
    await platform.deadLetters.add(record);
    const archive = await fetch(`${gateway.url}/dlq/${encodeURIComponent(record.id)}/archive`, {
      method: "POST",
    });
    expect(archive.status).toBe(200);
    const [seconds] = await getRedis().client().time();
    const [entry] = await platform.deadLetters.audit(record.id);
    expect(Math.abs(Date.parse(entry!.at) - Number(seconds) * 1000)).toBeLessThan(60_000);
  });
});

/** A record as a consumer dead-letters an unreadable message now. */
function badEnvelopeRecord(): DeadLetterRecord {
  return {
    id: "payment|order.placed|1-0",
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
  };
}

describe("gateway: start-up failure", () => {
  it("rejects when the port is taken, leaving nothing running", async () => {
    const platform = createMemoryPlatform();
    const first = await createGateway({ platform, port: 0, logger: quiet(), healthCheckIntervalMs: 0 });
    await expect(
      createGateway({ platform, port: first.port, logger: quiet(), healthCheckIntervalMs: 0 }),
    ).rejects.toThrow();
    expect((await platform.registry.list("gateway")).map((i) => i.instanceId)).toEqual([first.instanceId]);
    await first.stop();
    await platform.close();
  });
});
