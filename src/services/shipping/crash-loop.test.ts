/**
 * The crash-loop limit of shipping's must-complete messages: a shipment request whose instances
 * were killed while holding it (no outcome recorded, a "silent" delivery each time) is still handled
 * past the default policy's 3 silent deliveries, as payment's and inventory's messages are; one that
 * keeps killing its instance is still parked at MUST_COMPLETE_MAX_SILENT_DELIVERIES.
 */
import { afterEach, describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MUST_COMPLETE_MAX_SILENT_DELIVERIES } from "../../lib/bus/retry-policy.js";
import type { Delivery } from "../../lib/bus/transport.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { startService } from "../../lib/runtime/service-host.js";
import { waitFor } from "../../test-support/wait.js";
import { createShippingService } from "./service.js";

const TOPIC = { topic: "shipping.shipment.requested", owner: "order" } as const;

/**
 * `count` shipping instances that each take the message and die holding it: a consumer of the
 * shipping group that never settles its delivery and stops (the transport then hands the message on
 * after its claim idle time, counting a silent delivery).
 */
async function killHolders(platform: Platform, count: number): Promise<Delivery[]> {
  const seen: Delivery[] = [];
  for (let i = 1; i <= count; i++) {
    const dead = await platform.transport.subscribe(
      { group: "shipping", consumer: `killed-${i}`, topics: [TOPIC] },
      async (delivery) => {
        seen.push(delivery); // never settled: the process died while handling it
      },
    );
    await waitFor(() => seen.length >= i, 20_000, `delivery ${i} to a doomed instance`);
    await dead.stop();
  }
  return seen;
}

describe("shipping: a shipment request whose holders were killed (memory platform)", () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setup() {
    const platform = createMemoryPlatform({ claimIdleMs: 100 });
    await platform.transport.ensureGroups("shipping", [TOPIC]);
    const saga = new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "order", instance: "test" },
    });
    cleanup = () => platform.close();
    const launch = async () => {
      const running = await startService(createShippingService({ deliveryDelayMs: 60_000 }), {
        events: AllEvents,
        platform,
        port: 0,
        logger: createLogger({ service: "shipping", level: "silent" }),
      });
      cleanup = async () => {
        await running.stop();
        await platform.close();
      };
      const shipment = async (orderId: string) => {
        const response = await fetch(`${running.url}/shipments/${orderId}`);
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      return { shipment };
    };
    return { platform, saga, launch };
  }

  it("is handled after 4 deliveries without an outcome, not dead-lettered as a crash loop", async () => {
    const t = await setup();
    await t.saga.publish("shipping.shipment.requested", {
      orderId: "killed-4",
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 1 }],
    });
    const holders = await killHolders(t.platform, 4);
    expect(holders.map((d) => d.silentDeliveries)).toEqual([0, 1, 2, 3]);

    const { shipment } = await t.launch();
    await waitFor(
      async () =>
        (await shipment("killed-4")).status === 200 || (await t.platform.deadLetters.list()).length > 0,
      20_000,
      "the shipment prepared (or a dead letter)",
    );
    expect(await t.platform.deadLetters.list()).toEqual([]);
    expect((await shipment("killed-4")).body).toMatchObject({ orderId: "killed-4", status: "prepared" });
  });

  it(`is parked as a crash loop after ${MUST_COMPLETE_MAX_SILENT_DELIVERIES} deliveries without an outcome`, async () => {
    const t = await setup();
    await t.saga.publish("shipping.shipment.requested", {
      orderId: "killed-all",
      userId: "u-1",
      items: [{ productId: "p-1", quantity: 1 }],
    });
    await killHolders(t.platform, MUST_COMPLETE_MAX_SILENT_DELIVERIES);

    const { shipment } = await t.launch();
    const [record] = await waitFor(
      async () => {
        const records = await t.platform.deadLetters.list();
        return records.length > 0 ? records : undefined;
      },
      20_000,
      "the crash loop's dead letter",
    );
    expect(record).toMatchObject({ group: "shipping", topic: TOPIC.topic });
    expect(record?.reason).toContain(
      `delivered ${MUST_COMPLETE_MAX_SILENT_DELIVERIES} times without an outcome`,
    );
    expect((await shipment("killed-all")).status).toBe(404);
  });
});
