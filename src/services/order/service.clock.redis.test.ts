/**
 * Deadlines across instances (issue 8, input 5): two order instances whose clocks differ by far
 * more than the step budget share the sagas. Orders must not time out early, and an order's history
 * must never show time going backwards.
 */
import { afterEach, expect, it } from "vitest";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";
import { defaultBehaviour, startSimulation } from "./test-responders.js";

describeWithRedis("order service with skewed instance clocks", (getRedis) => {
  const platforms: Platform[] = [];
  const harnesses: OrderHarness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.stop();
    for (const p of platforms.splice(0)) await p.close();
  });

  it("two instances 60 s apart complete every order and record monotonic histories", async () => {
    const platform = () => {
      const p = createRedisPlatform({ url: getRedis().url });
      platforms.push(p);
      return p;
    };
    const sim = await startSimulation(platform().transport, defaultBehaviour());
    const options = { stepTimeoutMs: 5_000, sweepIntervalMs: 20 };
    for (const skewMs of [60_000, -60_000]) {
      harnesses.push(await startOrderService(platform(), options, {}, sim, () => Date.now() + skewMs));
    }
    const orderIds: string[] = [];
    for (let i = 0; i < 10; i++) orderIds.push(await harnesses[i % 2]!.place());
    await waitFor(
      () =>
        orderIds.every(
          (id) => sim.about(id, "order.completed").length + sim.about(id, "order.failed").length > 0,
        ),
      20_000,
      "every order settled",
    );
    expect(orderIds.filter((id) => sim.about(id, "order.failed").length > 0)).toEqual([]);
    for (const orderId of orderIds) {
      const { body } = await harnesses[0]!.request<{ events: { time: string }[] }>(
        "GET",
        `/orders/${orderId}/events`,
      );
      const times = body.events.map((e) => Date.parse(e.time));
      expect(times, `history of ${orderId}`).toEqual([...times].sort((a, b) => a - b));
    }
    await sim.stop();
  });
});
