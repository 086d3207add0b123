/**
 * Scheduled delivery: a prepared shipment is delivered once its due time passes. Any number of
 * instances poll; the store's claim lets exactly one of them deliver each shipment. Each delivery
 * continues the order's trace from the `traceparent` stored when it was scheduled: a
 * `shipping deliver` span (its child) around the claim, and the `shipping.shipment.delivered` it
 * publishes under that span.
 */
import type { AllEvents } from "../../contracts/index.js";
import { childTraceparent } from "../../lib/bus/envelope.js";
import type { Publisher } from "../../lib/bus/publisher.js";
import type { Logger } from "../../lib/observability/logger.js";
import { SpanKind, withSpanFromTraceparent } from "../../lib/observability/spans.js";
import { deliveredRecord, isDeliverable } from "./domain.js";
import type { ShippingStore } from "./store.js";

export interface DeliveryDeps {
  store: ShippingStore;
  publisher: Publisher<typeof AllEvents>;
  now: () => number;
  /** Shipments handled per pass (default 100). */
  batchSize?: number;
}

/** One pass: delivers every shipment due now; returns how many this caller delivered. */
export async function deliverDue(deps: DeliveryDeps): Promise<number> {
  const now = deps.now();
  const ids = await deps.store.due(now, deps.batchSize ?? 100);
  const records = await Promise.all(ids.map((id) => deps.store.get(id)));
  const claims = records.filter(isDeliverable).map((record) =>
    withSpanFromTraceparent(
      "shipping deliver",
      record.traceparent,
      {
        kind: SpanKind.INTERNAL,
        attributes: {
          "ordersaga.order_id": record.orderId,
          "ordersaga.shipment_id": record.shipmentId ?? "",
        },
      },
      async (span) => {
        const delivered = deliveredRecord(record, new Date(now).toISOString());
        const message = deps.publisher.prepare(
          "shipping.shipment.delivered",
          {
            orderId: record.orderId,
            shipmentId: record.shipmentId ?? "",
            deliveredAt: delivered.deliveredAt ?? "",
          },
          {
            ...(record.correlationId ? { correlationId: record.correlationId } : {}),
            // Tracing off: the envelope still carries the order's trace id (logs join on it).
            ...(record.traceparent ? { traceparent: childTraceparent(record.traceparent) } : {}),
          },
        ).message;
        const won = await deps.store.claimDelivery(delivered, [message]);
        span?.setAttribute("ordersaga.delivery.claimed", won);
        return won;
      },
    ),
  );
  // Entries whose shipment is gone or no longer prepared are dropped by a claim that writes nothing.
  const stale = records
    .map((record, i) => (isDeliverable(record) ? undefined : ids[i]))
    .filter((id): id is string => id !== undefined)
    .map((orderId) => deps.store.dropDue(orderId));
  const [won] = await Promise.all([Promise.all(claims), Promise.all(stale)]);
  return won.filter(Boolean).length;
}

export interface DeliveryPoller {
  stop(): Promise<void>;
}

export function startDeliveryPoller(
  deps: DeliveryDeps & { intervalMs: number; logger: Logger },
): DeliveryPoller {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const tick = () => {
    pass = deliverDue(deps)
      .then(
        (count) => {
          if (count > 0) deps.logger.debug({ count }, "shipments delivered");
        },
        (error: unknown) => deps.logger.warn({ err: error }, "delivery pass failed"),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, deps.intervalMs);
      });
  };
  timer = setTimeout(tick, deps.intervalMs);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await pass;
    },
  };
}
