import { afterEach, expect, it } from "vitest";
import type { ShippingShipmentDelivered } from "../../contracts/index.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";

let platform: Platform | undefined;
let harness: OrderHarness | undefined;

afterEach(async () => {
  await harness?.stop();
  await platform?.close();
  harness = undefined;
  platform = undefined;
});

const noCommands = {
  prepare: () => {
    throw new Error("a settled order's duplicate must send no command");
  },
};

it("keeps no settled order in the saga's cache, and a late duplicate for one changes nothing", async () => {
  platform = createMemoryPlatform();
  const h = (harness = await startOrderService(platform));
  const delivered = await Promise.all([1, 2, 3, 4].map(() => h.place()));
  for (const orderId of delivered) await h.waitForStatus(orderId, "delivered");
  h.sim.behaviour.user = "invalid"; // failed before anything was requested: nothing to compensate
  const failed = await Promise.all([1, 2].map(() => h.place()));
  for (const orderId of failed) await h.waitForStatus(orderId, "failed");
  const { runner } = h.internals;
  // The last step's outbox is written with the step; its handler returns just after.
  await waitFor(() => runner.repository.cachedOrders === 0, 5_000, "an empty cache");

  // A duplicate of the delivery, after the order left the cache: read from the stream, refused.
  const orderId = delivered[0]!;
  const before = await runner.repository.history(orderId);
  // As the simulated carrier sends it (test-responders.ts).
  const payload: ShippingShipmentDelivered = {
    orderId,
    shipmentId: `shp-${orderId}`,
    deliveredAt: new Date().toISOString(),
  };
  const result = await runner.run(orderId, { type: "shipping.shipment.delivered", payload }, noCommands);

  expect(result).toMatchObject({ kind: "unchanged", state: { status: "delivered" } });
  expect(await runner.repository.history(orderId)).toEqual(before);
  expect(runner.repository.cachedOrders).toBe(0);
  expect(h.sim.about(orderId, "order.delivered")).toHaveLength(1);
});
