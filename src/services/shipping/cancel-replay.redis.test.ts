/**
 * A shipment cancel (or the delivery scheduling after the pivot) replayed from the DLQ after the
 * dedupe marks' lifetime (issue 11, leftover 1). Both are must-complete: once their window is spent
 * they wait in the DLQ for an operator, who may retry them days later, past `MARKER_TTL_MS`. Both
 * are decided from the shipment record (the system of record, kept) and the carrier's booking under
 * the order's key (kept with it), never from an expiring mark, so they are `dedupedBy: "record"`: the
 * replay runs (it used to be refused as `TOO_OLD_TO_DEDUPLICATE`), once in effect. Marks live 1.5 s
 * here; replays carry message ids made 8 days ago.
 */
import { randomUUID } from "node:crypto";
import { afterEach, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { childTraceparent, encodeEnvelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { Subscriber } from "../../lib/bus/subscriber.js";
import { createLogger } from "../../lib/observability/logger.js";
import { createRedisPlatform, type Platform } from "../../lib/runtime/platform.js";
import { type RunningService, startService } from "../../lib/runtime/service-host.js";
import { getProcessKeyring } from "../../lib/security/process-keys.js";
import { createSigner } from "../../lib/security/signing.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createShippingService } from "./service.js";

const DAY = 86_400_000;
const MARKER_TTL_MS = 1_500;

function idAt(ms: number, n: number): string {
  const hex = ms.toString(16).padStart(12, "0");
  return `${hex.slice(0, 8)}-${hex.slice(8)}-7000-8000-${n.toString(16).padStart(12, "0")}`;
}

let sequence = 0;

/** A saga message sent 8 days ago (by its message id), signed by the order service. */
function oldMessage(event: "order.compensation.shipment.cancel" | "order.completed", orderId: string) {
  const id = idAt(Date.now() - 8 * DAY, ++sequence);
  const payload =
    event === "order.completed"
      ? { orderId, userId: "u-1", total: 100, currency: "USD", durationMs: 5 }
      : { orderId, reason: "payment failed" };
  const body = encodeEnvelope({
    id,
    event,
    version: 1,
    occurredAt: new Date(Date.now() - 8 * DAY).toISOString(),
    source: { service: "order", instance: "order-1" },
    correlationId: orderId,
    traceparent: childTraceparent(),
    attributes: {},
    payload,
  });
  return {
    topic: event,
    owner: "order",
    id,
    body: createSigner(getProcessKeyring(), "order").sign(body, "order"),
  };
}

type Seen = { event: string; orderId: string; payload: Record<string, unknown> };

describeWithRedis(
  "shipping: a cancel or delivery scheduling replayed after the marks' lifetime",
  (getRedis) => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    it("cancels a prepared shipment on an 8-day-old replay once, answers later replays, voids an unknown one, and schedules a completed order's delivery once", async () => {
      await getRedis().flush();
      const platform: Platform = createRedisPlatform({
        url: getRedis().url,
        retention: { markerTtlMs: MARKER_TTL_MS },
      });
      const seen: Seen[] = [];
      const group = `observer-${randomUUID()}`;
      const observer = new Subscriber({
        events: AllEvents,
        transport: platform.transport,
        group,
        consumer: "t",
      });
      for (const event of [
        "shipping.shipment.prepared",
        "shipping.shipment.cancelled",
        "shipping.shipment.cancel.skipped",
        "shipping.shipment.delivered",
      ] as const) {
        observer.on(event, (payload) => {
          const p = payload as Record<string, unknown>;
          seen.push({ event, orderId: String(p.orderId), payload: p });
        });
      }
      await platform.transport.ensureGroups(group, observer.topics());
      await observer.start();
      const running: RunningService = await startService(
        createShippingService({ deliveryDelayMs: 100, pollIntervalMs: 20 }),
        {
          events: AllEvents,
          platform,
          port: 0,
          logger: createLogger({ service: "shipping", level: "silent" }),
        },
      );
      cleanup = async () => {
        await running.stop();
        await observer.stop();
        await platform.close();
      };
      const saga = new Publisher({
        events: AllEvents,
        transport: platform.transport,
        source: { service: "order", instance: "test" },
      });
      const of = (event: string, orderId: string) =>
        seen.filter((e) => e.event === event && e.orderId === orderId);
      const status = async (orderId: string) =>
        ((await (await fetch(`${running.url}/shipments/${orderId}`)).json()) as { status?: string }).status;
      const replay = (message: ReturnType<typeof oldMessage>) =>
        platform.transport.redeliver("shipping", message);
      const items = [{ productId: "p-1", quantity: 1 }];

      for (const orderId of ["o-cancel", "o-deliver"]) {
        await saga.publish("shipping.shipment.requested", { orderId, userId: "u-1", items });
        await waitFor(
          () => of("shipping.shipment.prepared", orderId).length === 1,
          60_000,
          `${orderId} prepared`,
        );
      }

      await replay(oldMessage("order.compensation.shipment.cancel", "o-cancel"));
      await waitFor(() => of("shipping.shipment.cancelled", "o-cancel").length === 1, 60_000, "the cancel");
      await replay(oldMessage("order.compensation.shipment.cancel", "o-cancel"));
      await waitFor(
        () => of("shipping.shipment.cancel.skipped", "o-cancel").length === 1,
        60_000,
        "the repeat",
      );
      expect(of("shipping.shipment.cancel.skipped", "o-cancel")[0]?.payload).toMatchObject({
        outcome: "already_done",
      });
      expect(await status("o-cancel")).toBe("cancelled");

      // Nothing was ever prepared for this order: voided here and at the carrier, answered.
      await replay(oldMessage("order.compensation.shipment.cancel", "o-none"));
      await waitFor(() => of("shipping.shipment.cancel.skipped", "o-none").length === 1, 60_000, "the void");
      expect(of("shipping.shipment.cancel.skipped", "o-none")[0]?.payload).toMatchObject({
        outcome: "nothing_to_undo",
      });

      await replay(oldMessage("order.completed", "o-deliver"));
      await waitFor(
        () => of("shipping.shipment.delivered", "o-deliver").length === 1,
        60_000,
        "the delivery",
      );
      await replay(oldMessage("order.completed", "o-deliver"));
      await replay(oldMessage("order.compensation.shipment.cancel", "o-deliver"));
      await waitFor(
        () => of("shipping.shipment.cancel.skipped", "o-deliver").length === 1,
        60_000,
        "too late",
      );
      expect(of("shipping.shipment.cancel.skipped", "o-deliver")[0]?.payload).toMatchObject({
        outcome: "too_late",
      });
      expect(await status("o-deliver")).toBe("delivered");

      expect(of("shipping.shipment.cancelled", "o-cancel")).toHaveLength(1);
      expect(of("shipping.shipment.delivered", "o-deliver")).toHaveLength(1);
      expect(await platform.deadLetters.list()).toEqual([]);
    }, 240_000);
  },
);
