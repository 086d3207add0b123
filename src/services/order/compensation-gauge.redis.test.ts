/**
 * `saga_compensations_pending` is read from the stored sagas (break13 F4): a second instance and a
 * restarted one show the compensations still waiting, and settling them brings every instance to 0,
 * never below (a per-process inc/dec gauge showed 0 after a restart, then went negative).
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { createOwnerSigner } from "../../lib/security/signing.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";
import { defaultBehaviour, startSimulation } from "./test-responders.js";

describeWithRedis("compensations pending, over Redis", (getRedis) => {
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

  const pendingOn = async (h: OrderHarness): Promise<number | undefined> => {
    const text = await h.running.metrics.metricsText();
    const line = /^ordersaga_saga_compensations_pending\{[^}]*\} (\S+)$/m.exec(text);
    return line ? Number(line[1]) : undefined;
  };
  const until = (h: OrderHarness, value: number, what: string) =>
    waitFor(async () => ((await pendingOn(h)) === value ? true : undefined), 15_000, what, 50);

  it("shows the waiting compensations on a second and a restarted instance, and 0 (not negative) once settled", async () => {
    // The simulated services never answer compensations: a failed shipment leaves two waiting.
    const sim = await startSimulation(platform.transport, { ...defaultBehaviour(), shipping: "fail" });
    const first = await startOrderService(platform, {}, {}, sim);
    const orderId = await first.place();
    await waitFor(() => sim.about(orderId, "order.failed")[0], 15_000, "order failed");
    await until(first, 2, "two compensations pending on the instance that requested them");

    const second = await startOrderService(platform, {}, {}, sim);
    harnesses.push(second);
    await until(second, 2, "the same two on a second instance");
    await first.stop();
    const restarted = await startOrderService(platform, {}, {}, sim);
    harnesses.push(restarted);
    await until(restarted, 2, "the same two on a restarted instance");

    // The services answer now (nothing to undo): the instances that never requested them settle them.
    const replies = new Publisher({
      events: AllEvents,
      transport: platform.transport,
      source: { service: "simulated", instance: "test" },
      signer: createOwnerSigner(getProcessKeyring()),
    });
    await replies.publish("payment.refund.skipped", {
      orderId,
      outcome: "already_done",
      reason: "no charge",
    });
    await replies.publish("inventory.release.skipped", {
      orderId,
      outcome: "nothing_to_undo",
      reason: "nothing reserved",
    });
    await until(second, 0, "none pending on the second instance");
    await until(restarted, 0, "none pending on the restarted instance");
    expect([await pendingOn(second), await pendingOn(restarted)]).toEqual([0, 0]);
    await sim.stop();
  }, 60_000);
});
