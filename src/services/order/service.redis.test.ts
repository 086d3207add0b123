import { afterEach, beforeEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { readModelKey, streamKey } from "../../lib/eventstore/keys.js";
import { deadlineIndexKey, ORDER_TAG, orderStreamId } from "./keys.js";
import { deadlineProjection, type OrderView, orderViewProjection } from "./projections.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";
import { defaultBehaviour, type Simulation, startSimulation } from "./test-responders.js";

describeWithRedis("order service over Redis", (getRedis) => {
  let platform: Platform;
  const harnesses: OrderHarness[] = [];

  beforeEach(async () => {
    await getRedis().flush();
    platform = createRedisPlatform({ url: getRedis().url });
  });

  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
    await platform.close();
  });

  const terminal = (sim: Simulation, orderId: string, event: string) =>
    waitFor(() => sim.about(orderId, event)[0], 10_000, `${event} of ${orderId}`);

  it("takes an order to delivery with each command once", async () => {
    const h = await startOrderService(platform);
    harnesses.push(h);
    const orderId = await h.place();
    await terminal(h.sim, orderId, "order.completed");
    await h.waitForStatus(orderId, "delivered", 10_000);
    for (const command of [
      "payment.requested",
      "shipping.shipment.requested",
      "inventory.commit.requested",
    ]) {
      expect(h.sim.about(orderId, command)).toHaveLength(1);
    }
  });

  it("refunds and releases when the shipment fails", async () => {
    const h = await startOrderService(platform, {}, { shipping: "fail" });
    harnesses.push(h);
    const orderId = await h.place();
    const failed = await terminal(h.sim, orderId, "order.failed");
    expect(failed.payload).toMatchObject({
      stage: "shipping",
      compensated: ["payment.refund", "inventory.release"],
    });
    expect(h.sim.about(orderId, "order.compensation.payment.refund")).toHaveLength(1);
  });

  it("finishes a saga whose instance stopped mid-way: a new instance times it out from durable state", async () => {
    const sim = await startSimulation(platform.transport, { ...defaultBehaviour(), inventory: "silent" });
    const options = { stepTimeoutMs: 1_000, sweepIntervalMs: 50 };
    const first = await startOrderService(platform, options, {}, sim);
    const orderId = await first.place();
    // Stop once the saga is waiting on inventory, which never answers: the step to time out.
    await waitFor(
      () => sim.about(orderId, "inventory.reservation.requested")[0],
      5_000,
      "reservation requested",
    );
    await first.stop();
    expect(sim.about(orderId, "order.failed")).toEqual([]);

    const second = await startOrderService(platform, options, {}, sim);
    harnesses.push(second);
    const failed = await terminal(sim, orderId, "order.failed");
    expect(failed.payload).toMatchObject({ stage: "timeout", compensated: ["inventory.release"] });
    await second.waitForStatus(orderId, "failed");
    await sim.stop();
  });

  it("never shows an order's events without its view and deadline (both written by the append)", async () => {
    const h = await startOrderService(platform);
    harnesses.push(h);
    const reader = getRedis().client();
    const viewsKey = readModelKey(ORDER_TAG, orderViewProjection.name);
    const dueKey = deadlineIndexKey(ORDER_TAG, deadlineProjection.name);
    const ids: string[] = [];
    const seen: string[] = [];
    let placing = true;
    // One transaction per look: the stream's length, the view and the deadline at one instant.
    const look = async () => {
      for (const id of [...ids]) {
        const replies = await reader
          .multi()
          .llen(streamKey(ORDER_TAG, orderStreamId(id)))
          .hget(viewsKey, id)
          .zscore(dueKey, id)
          .exec();
        const [length, json, score] = (replies ?? []).map(([, value]) => value);
        const view = typeof json === "string" ? (JSON.parse(json) as { value: OrderView }).value : undefined;
        seen.push(`${id} v${String(length)} view v${view?.version} ${view?.status} due ${String(score)}`);
        expect(view?.version, `view of ${id} at stream length ${String(length)}`).toBe(length);
        if (view?.status === "pending") expect(score, `deadline of pending ${id}`).not.toBeNull();
      }
    };
    const looking = (async () => {
      while (placing) {
        await look();
        // A turn of the event loop between looks (with no order yet, a look awaits nothing).
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let i = 0; i < 10; i++) ids.push(await h.place());
    for (const id of ids) await h.waitForStatus(id, "delivered", 10_000);
    placing = false;
    await looking;
    await look();
    expect(seen.length).toBeGreaterThan(ids.length);
  });
});
