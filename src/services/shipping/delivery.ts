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
import type { RetryBackoff, ShippingStore } from "./store.js";

export interface DeliveryDeps {
  store: ShippingStore;
  publisher: Publisher<typeof AllEvents>;
  now: () => number;
  /** Shipments handled per pass (default 100). */
  batchSize?: number;
  /** When a due shipment that failed is tried again (default `DEFAULT_DELIVERY_RETRY`). */
  retry?: RetryBackoff;
  /**
   * A due shipment this pass could not handle (its record unreadable, a Redis error on its key, a
   * failed claim), with what became of it (`retry`). Without it the pass throws those errors
   * together once the others are done (after moving them back all the same).
   */
  onFailure?: (orderId: string, error: unknown, retry: DeliveryRetry) => void;
}

/**
 * What became of a due shipment that failed: moved back on the schedule (its failures so far and
 * its next due time, ms epoch), or not moved: another poller moved, delivered or dropped it first
 * (no `error`), or the move failed too (`error`, e.g. Redis unreachable): then it is tried again
 * on the next pass, as before.
 */
export type DeliveryRetry =
  { deferred: true; failures: number; retryAt: number } | { deferred: false; error?: unknown };

/**
 * The retry of a due shipment that failed: 1 s, doubled per failure, at most 30 s. A transient
 * failure (a Redis error on one key) delays its delivery by about the backoff; a record that
 * never reads is tried twice a minute at most, per shipment, whatever the number of pollers.
 */
export const DEFAULT_DELIVERY_RETRY: RetryBackoff = { baseMs: 1_000, maxMs: 30_000 };

/**
 * One pass: delivers every shipment due now (at most `batchSize`, earliest first); returns how many
 * this caller delivered. Each due shipment is handled on its own; one that fails is moved back on
 * the schedule by its backoff (`ShippingStore.deferDue`), so it is tried again later and leaves the
 * head of the schedule to the others: however many fail, each pass moves its whole batch off the
 * due list, and a good shipment is reached after at most (failing ones due before it) / batchSize
 * passes (break-svc7 F1: 100 that failed every pass were taken again every pass, and nothing else
 * was ever delivered).
 */
export async function deliverDue(deps: DeliveryDeps): Promise<number> {
  const now = deps.now();
  const ids = await deps.store.due(now, deps.batchSize ?? 100);
  const outcomes = await Promise.allSettled(ids.map((orderId) => deliverOne(deps, orderId, now)));
  const failed = ids.flatMap((orderId, i) => {
    const outcome = outcomes[i];
    return outcome?.status === "rejected" ? [{ orderId, error: outcome.reason as unknown }] : [];
  });
  const backoff = deps.retry ?? DEFAULT_DELIVERY_RETRY;
  const retries = await Promise.all(
    failed.map(({ orderId }) =>
      deps.store.deferDue(orderId, now, backoff).then(
        (moved): DeliveryRetry => (moved ? { deferred: true, ...moved } : { deferred: false }),
        (error: unknown): DeliveryRetry => ({ deferred: false, error }),
      ),
    ),
  );
  const errors: unknown[] = [];
  failed.forEach(({ orderId, error }, i) => {
    const retry = retries[i] ?? { deferred: false };
    if (deps.onFailure) deps.onFailure(orderId, error, retry);
    else errors.push(error);
  });
  if (errors.length > 0) throw new AggregateError(errors, `${errors.length} due shipment(s) not handled`);
  return outcomes.filter((o) => o.status === "fulfilled" && o.value).length;
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
   * Counts every failed try of a due shipment whose record cannot be read
   * (`UnreadableRecordError`): `ordersaga_shipping_unreadable_records_total`.
   */
  unreadable?: Pick<Counter, "inc">;
  /**
   * Counts every other failed try of a due shipment (a Redis error on its key, a failed claim):
   * `ordersaga_shipping_delivery_errors_total`.
   */
  errors?: Pick<Counter, "inc">;
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
 * or moved a failed shipment back (see there: more may be due behind it; a moved one is not due
 * again before its backoff, so this is no busy loop); `stop` waits for the pass in progress.
 */
export function startDeliveryPoller(deps: DeliveryPollerDeps): DeliveryPoller {
  const busyIntervalMs = Math.min(BUSY_POLL_INTERVAL_MS, deps.intervalMs);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  // A shipment that fails every try (an unreadable record) is warned about once, not every
  // backoff; bounded so a long run cannot grow it without end.
  const warned = new Set<string>();
  let deferred = 0;
  const onFailure = (orderId: string, error: unknown, retry: DeliveryRetry) => {
    if (error instanceof UnreadableRecordError) deps.unreadable?.inc();
    else deps.errors?.inc();
    if (retry.deferred) deferred++;
    const fields = {
      orderId,
      err: error,
      ...(retry.deferred
        ? { failures: retry.failures, retryAt: new Date(retry.retryAt).toISOString() }
        : retry.error === undefined
          ? {}
          : { retryErr: retry.error }),
    };
    if (warned.has(orderId)) return deps.logger.debug(fields, "shipment not delivered");
    if (warned.size >= 1_000) warned.clear();
    warned.add(orderId);
    deps.logger.warn(fields, "shipment not delivered; tried again after a backoff, others go on");
  };
  const tick = () => {
    let delivered = 0;
    deferred = 0;
    pass = deliverDue({ ...deps, onFailure })
      .then(
        (count) => {
          delivered = count;
          if (count > 0) deps.logger.debug({ count }, "shipments delivered");
        },
        (error: unknown) => deps.logger.warn({ err: error }, "delivery pass failed"),
      )
      .finally(() => {
        const busy = delivered > 0 || deferred > 0;
        if (!stopped) timer = setTimeout(tick, busy ? busyIntervalMs : deps.intervalMs);
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
