/**
 * Scheduled delivery: a prepared shipment is delivered once its due time passes. Any number of
 * instances poll; the store's claim lets exactly one of them deliver each shipment. Each delivery
 * continues the order's trace from the `traceparent` stored when it was scheduled: a
 * `shipping deliver` span (its child) around the claim, and the `shipping.shipment.delivered` it
 * publishes under that span.
 */
import { ZodError } from "zod";
import type { AllEvents } from "../../contracts/index.js";
import { childTraceparent } from "../../lib/bus/envelope.js";
import type { Publisher } from "../../lib/bus/publisher.js";
import type { Counter } from "prom-client";
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
  /**
   * A due shipment this pass could not handle (its record unreadable, a failed claim). Without it
   * the pass throws those errors together once the others are done.
   */
  onFailure?: (orderId: string, error: unknown) => void;
}

/**
 * One pass: delivers every shipment due now; returns how many this caller delivered. Each due
 * shipment is handled on its own: one that fails (a corrupt record, break-svc F1, once failed
 * every pass) stays on the schedule for the next pass and the others are still delivered.
 */
export async function deliverDue(deps: DeliveryDeps): Promise<number> {
  const now = deps.now();
  const ids = await deps.store.due(now, deps.batchSize ?? 100);
  const outcomes = await Promise.allSettled(ids.map((orderId) => deliverOne(deps, orderId, now)));
  const errors: unknown[] = [];
  let won = 0;
  outcomes.forEach((outcome, i) => {
    if (outcome.status === "fulfilled") won += outcome.value ? 1 : 0;
    else if (deps.onFailure) deps.onFailure(ids[i] ?? "", outcome.reason);
    else errors.push(outcome.reason);
  });
  if (errors.length > 0) throw new AggregateError(errors, `${errors.length} due shipment(s) not handled`);
  return won;
}

/** A due shipment whose stored record does not parse (e.g. spliced JSON, break-svc F1): `cause`. */
export class UnreadableRecordError extends Error {
  constructor(
    readonly orderId: string,
    options: { cause: unknown },
  ) {
    super(`shipment record of order ${orderId} cannot be read`, options);
    this.name = "UnreadableRecordError";
  }
}

async function deliverOne(deps: DeliveryDeps, orderId: string, now: number): Promise<boolean> {
  const record = await deps.store.get(orderId).catch((error: unknown) => {
    // The record's JSON or its schema, not the store's reach (a Redis error stays what it is).
    if (error instanceof SyntaxError || error instanceof ZodError)
      throw new UnreadableRecordError(orderId, { cause: error });
    throw error;
  });
  // An entry whose shipment is gone or no longer prepared is dropped (a claim would write nothing).
  if (!isDeliverable(record)) {
    await deps.store.dropDue(orderId);
    return false;
  }
  return withSpanFromTraceparent(
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
  );
}

export interface DeliveryPoller {
  stop(): Promise<void>;
}

export interface DeliveryPollerDeps extends DeliveryDeps {
  intervalMs: number;
  logger: Logger;
  /**
   * Counts every skip of a due shipment whose record cannot be read (`UnreadableRecordError`), once
   * per pass: `ordersaga_shipping_unreadable_records_total`. Other failures are only logged.
   */
  unreadable?: Pick<Counter, "inc">;
}

/**
 * How soon the pass after one that delivered something runs (ms; never later than `intervalMs`).
 * Each pass's deliveries go out together and fan out at once in every service (`order.delivered`,
 * notifications, the payment outcome): at the 500 ms interval and 150 orders/s, a burst of 75
 * orders' work every half second, competing for the same processes and Redis with the placement →
 * shipped path of the orders in flight (issue 14). While there is work, passes follow at this pace,
 * each taking what came due since the last; an idle poller still asks every `intervalMs`.
 */
export const BUSY_POLL_INTERVAL_MS = 25;

/**
 * Polls the schedule every `intervalMs`, and `BUSY_POLL_INTERVAL_MS` after a pass that delivered
 * (see there); `stop` waits for the pass in progress.
 */
export function startDeliveryPoller(deps: DeliveryPollerDeps): DeliveryPoller {
  const busyIntervalMs = Math.min(BUSY_POLL_INTERVAL_MS, deps.intervalMs);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  // A shipment that fails every pass (an unreadable record) is warned about once, not every
  // intervalMs; bounded so a long run cannot grow it without end.
  const warned = new Set<string>();
  const onFailure = (orderId: string, error: unknown) => {
    if (error instanceof UnreadableRecordError) deps.unreadable?.inc();
    if (warned.has(orderId)) return deps.logger.debug({ orderId, err: error }, "shipment not delivered");
    if (warned.size >= 1_000) warned.clear();
    warned.add(orderId);
    deps.logger.warn({ orderId, err: error }, "shipment not delivered; left on the schedule, others go on");
  };
  const tick = () => {
    let delivered = 0;
    pass = deliverDue({ ...deps, onFailure })
      .then(
        (count) => {
          delivered = count;
          if (count > 0) deps.logger.debug({ count }, "shipments delivered");
        },
        (error: unknown) => deps.logger.warn({ err: error }, "delivery pass failed"),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, delivered > 0 ? busyIntervalMs : deps.intervalMs);
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
