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
import type { ParkPolicy, RetryBackoff, ShippingStore } from "./store.js";
import { startTicker } from "../../lib/runtime/ticker.js";

export interface DeliveryDeps {
  store: ShippingStore;
  publisher: Publisher<typeof AllEvents>;
  now: () => number;
  /** Shipments handled per pass (default 100). */
  batchSize?: number;
  /** When a due shipment that failed is tried again (default `DEFAULT_DELIVERY_RETRY`). */
  retry?: RetryBackoff;
  /** Consecutive unreadable tries after which a shipment is parked (default `DEFAULT_PARK_AFTER`). */
  parkAfter?: number;
  /**
   * A due shipment this pass could not handle (its record unreadable, a Redis error on its key, a
   * failed claim), with what became of it (`retry`). Without it the pass throws those errors
   * together once the others are done (after moving them back or parking them all the same).
   */
  onFailure?: (orderId: string, error: unknown, retry: DeliveryRetry) => void;
}

/**
 * What became of a due shipment that failed: moved back on the schedule (its failures so far and
 * its next due time, ms epoch), parked (its record never read, `DEFAULT_PARK_AFTER`), or not moved:
 * another poller moved, delivered or dropped it first (no `error`), or the move failed too
 * (`error`, e.g. Redis unreachable): then it is tried again on the next pass, as before.
 */
export type DeliveryRetry =
  | { deferred: true; parked?: undefined; failures: number; retryAt: number }
  | { deferred: false; parked: true; failures: number; error?: undefined }
  | { deferred: false; parked?: undefined; error?: unknown };

/** What one pass did: shipments it delivered, moved back after a failure, and parked. */
export interface DeliveryPass {
  delivered: number;
  deferred: number;
  parked: number;
}

/**
 * The retry of a due shipment that failed: 1 s, doubled per failure, at most 30 s. A transient
 * failure (a Redis error on one key) delays its delivery by about the backoff; a record that
 * never reads is tried twice a minute at most, per shipment, whatever the number of pollers.
 */
export const DEFAULT_DELIVERY_RETRY: RetryBackoff = { baseMs: 1_000, maxMs: 30_000 };

/**
 * Consecutive unreadable tries after which a due shipment is parked (taken off the schedule, kept
 * in `{shipping}:parked` with the parse error): with the default backoff the 15th try comes about
 * 5 min (1+2+4+8+16+30×9 s) after the first. Long enough for a rolling deploy (an old release
 * that cannot read a record the new one wrote fails it; the new one delivers it and the streak ends
 * with the entry) and for an operator to repair a record the warning named; short enough that a
 * record that never reads stops costing a try every 30 s on every poller for ever. Only unreadable
 * records count: a Redis error restarts the streak (it is not the record's fault).
 */
export const DEFAULT_PARK_AFTER = 15;

/**
 * One pass: delivers every shipment due now (at most `batchSize`, earliest first); returns how many
 * this caller delivered, moved back and parked. Each due shipment is handled on its own; one that
 * fails is moved back on the schedule by its backoff (`ShippingStore.deferDue`), so it is tried
 * again later and leaves the head of the schedule to the others: however many fail, each pass moves
 * its whole batch off the due list, and a good shipment is reached after at most (failing ones due
 * before it) / batchSize passes (break-svc7 F1: 100 that failed every pass were taken again every
 * pass, and nothing else was ever delivered). A record that never reads is parked at `parkAfter`.
 */
export async function deliverDue(deps: DeliveryDeps): Promise<DeliveryPass> {
  const now = deps.now();
  const ids = await deps.store.due(now, deps.batchSize ?? 100);
  const outcomes = await Promise.allSettled(ids.map((orderId) => deliverOne(deps, orderId, now)));
  const failed = ids.flatMap((orderId, i) => {
    const outcome = outcomes[i];
    return outcome?.status === "rejected" ? [{ orderId, error: outcome.reason as unknown }] : [];
  });
  const backoff = deps.retry ?? DEFAULT_DELIVERY_RETRY;
  const parkAfter = deps.parkAfter ?? DEFAULT_PARK_AFTER;
  const retries = await Promise.all(
    failed.map(({ orderId, error }) =>
      deps.store.deferDue(orderId, now, backoff, parkPolicy(error, parkAfter)).then(
        (moved): DeliveryRetry =>
          !moved
            ? { deferred: false }
            : "parked" in moved
              ? { deferred: false, parked: true, failures: moved.failures }
              : { deferred: true, ...moved },
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
  return {
    delivered: outcomes.filter((o) => o.status === "fulfilled" && o.value).length,
    deferred: retries.filter((r) => r.deferred).length,
    parked: retries.filter((r) => r.parked).length,
  };
}

/** Only an unreadable record counts toward parking (a Redis error is not the record's fault). */
const parkPolicy = (error: unknown, after: number): ParkPolicy | undefined =>
  error instanceof UnreadableRecordError ? { after, reason: parkReason(error) } : undefined;

/** Longest reason kept with a parked shipment (a ZodError's message lists every issue as JSON). */
const MAX_REASON_CHARS = 500;

/** "shipment record of order … cannot be read: <the parse error>", at most MAX_REASON_CHARS. */
const parkReason = (error: UnreadableRecordError): string => {
  const cause = error.cause instanceof Error ? error.cause.message : String(error.cause);
  return `${error.message}: ${cause}`.slice(0, MAX_REASON_CHARS);
};

/**
 * A due shipment whose stored record does not parse (e.g. spliced JSON, break-svc F1) or is not
 * there at all (no `data` field: `MISSING_RECORD`, break17 F9): `cause`.
 */
export class UnreadableRecordError extends Error {
  constructor(
    readonly orderId: string,
    options: { cause: unknown },
  ) {
    super(`shipment record of order ${orderId} cannot be read`, options);
    this.name = "UnreadableRecordError";
  }
}

/** The cause of an UnreadableRecordError for a due shipment with no stored record (break17 F9). */
export const MISSING_RECORD =
  "no record stored (its hash has no data field, or no hash): restore the record's data field";

async function deliverOne(deps: DeliveryDeps, orderId: string, now: number): Promise<boolean> {
  const record = await deps.store.get(orderId).catch((error: unknown) => {
    // The record's JSON or its schema, not the store's reach (a Redis error stays what it is).
    if (error instanceof SyntaxError || error instanceof ZodError)
      throw new UnreadableRecordError(orderId, { cause: error });
    throw error;
  });
  // No record (no `data` field, or no key): nothing ever deletes a scheduled shipment's record, so
  // this is damage, handled as an unreadable record (retried, then parked for an operator); dropping
  // it left the order shipped for good with no trace (break17 F9).
  if (record === undefined) throw new UnreadableRecordError(orderId, { cause: new Error(MISSING_RECORD) });
  // An entry whose shipment is no longer prepared is dropped (a claim would write nothing).
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
  /** Counts every shipment this poller parked: `ordersaga_shipping_deliveries_parked_total`. */
  parked?: Pick<Counter, "inc">;
  /**
   * How often a sweep of orphaned failure counts starts, ms (default `ORPHAN_SWEEP_INTERVAL_MS`);
   * a sweep goes on by one bounded step (`ORPHAN_SWEEP_COUNT` fields) per pass until complete.
   */
  sweepIntervalMs?: number;
}

/** See `DeliveryPollerDeps.sweepIntervalMs`: a minute, so an idle poller adds one call a minute. */
export const ORPHAN_SWEEP_INTERVAL_MS = 60_000;
/** Hash fields one sweep step looks at (HSCAN COUNT): one short script call. */
export const ORPHAN_SWEEP_COUNT = 100;

/** Least time between two error logs about one damaged bookkeeping key, ms (each pass counts it). */
export const DAMAGED_KEY_LOG_INTERVAL_MS = 60_000;

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
 * or moved a failed shipment back or parked it (see there: more may be due behind it; a moved one is
 * not due again before its backoff, a parked one never, so this is no busy loop). After each pass,
 * one step of the orphaned-count sweep (`sweepIntervalMs`). `stop` waits for the pass in progress.
 */
export function startDeliveryPoller(deps: DeliveryPollerDeps): DeliveryPoller {
  const busyIntervalMs = Math.min(BUSY_POLL_INTERVAL_MS, deps.intervalMs);
  // A shipment that fails every try (an unreadable record) is warned about once, not every
  // backoff; bounded so a long run cannot grow it without end.
  const warned = new Set<string>();
  const onFailure = (orderId: string, error: unknown, retry: DeliveryRetry) => {
    if (error instanceof UnreadableRecordError) deps.unreadable?.inc();
    else deps.errors?.inc();
    if (retry.parked) {
      deps.parked?.inc();
      warned.delete(orderId);
      const fields = { orderId, err: error, failures: retry.failures };
      return deps.logger.error(
        fields,
        "shipment parked: its record never read; repair it, then POST /shipments/<orderId>/requeue (admin key)",
      );
    }
    const fields = {
      orderId,
      err: error,
      ...(retry.deferred
        ? { failures: retry.failures, retryAt: new Date(retry.retryAt).toISOString() }
        : !("error" in retry) || retry.error === undefined
          ? {}
          : { retryErr: retry.error }),
    };
    if (warned.has(orderId)) return deps.logger.debug(fields, "shipment not delivered");
    if (warned.size >= 1_000) warned.clear();
    warned.add(orderId);
    deps.logger.warn(fields, "shipment not delivered; tried again after a backoff, others go on");
  };
  // The orphan sweep: cursor "0" between sweeps; one started every sweepIntervalMs.
  const sweepIntervalMs = deps.sweepIntervalMs ?? ORPHAN_SWEEP_INTERVAL_MS;
  let sweepCursor = "0";
  let lastSweepStart = -Infinity;
  const sweepStep = async () => {
    const at = deps.now();
    if (sweepCursor === "0" && at - lastSweepStart < sweepIntervalMs) return;
    if (sweepCursor === "0") lastSweepStart = at;
    const { next, removed } = await deps.store.sweepOrphanCounts(sweepCursor, ORPHAN_SWEEP_COUNT);
    sweepCursor = next;
    if (removed > 0) deps.logger.info({ removed }, "orphaned delivery failure counts removed");
  };
  // A bookkeeping key of another type no longer stops deliveries (break9 F4), so nothing else would
  // show it: a delivery error for each pass that met it, and an error log once a minute per key.
  const damageLoggedAt = new Map<string, number>();
  const reportDamage = () => {
    for (const { key, type } of deps.store.damagedKeys?.() ?? []) {
      deps.errors?.inc();
      const at = deps.now();
      if (at - (damageLoggedAt.get(key) ?? -Infinity) < DAMAGED_KEY_LOG_INTERVAL_MS) continue;
      damageLoggedAt.set(key, at);
      deps.logger.error(
        { key, type },
        "shipping bookkeeping key holds another type: skipped, deliveries go on without it; inspect and delete it",
      );
    }
  };
  /** One pass; resolves whether it was busy (the next comes after `busyIntervalMs`). */
  const pass = async (): Promise<boolean> => {
    let busy = false;
    try {
      const done = await deliverDue({ ...deps, onFailure });
      busy = done.delivered > 0 || done.deferred > 0 || done.parked > 0;
      if (done.delivered > 0) deps.logger.debug({ count: done.delivered }, "shipments delivered");
    } catch (error) {
      deps.logger.warn({ err: error }, "delivery pass failed");
    }
    try {
      await sweepStep();
    } catch (error) {
      deps.logger.warn({ err: error }, "orphaned count sweep failed");
    }
    reportDamage();
    return busy;
  };
  const ticker = startTicker(deps.intervalMs, pass, {
    delayAfter: (busy) => (busy ? busyIntervalMs : deps.intervalMs),
  });
  return { stop: () => ticker.stop() };
}
