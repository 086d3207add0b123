/**
 * The shipping service: prepares shipments with a (simulated) carrier, cancels them on
 * compensation, delivers prepared ones on a schedule, and serves shipment records.
 */
import { configReadAtStart } from "../../lib/runtime/config-at-start.js";
import { Counter, Gauge } from "prom-client";
import { z } from "zod";
import type { AllEvents } from "../../contracts/index.js";
import { ConfigError, parseEnv, serviceEnvSchema } from "../../lib/runtime/config.js";
import { withTimeout } from "../../lib/resilience/index.js";
import {
  DEFAULT_ORPHAN_SCAN_INTERVAL_MS,
  orphanPassTiming,
  scanPassesPart,
} from "../../lib/runtime/creation-scan.js";
import { orphanGraceProblemOf } from "../order/config.js";
import { DEFAULT_SAGA_OPTIONS } from "../order/saga-model.js";
import {
  DEFAULT_ORPHAN_BOOKING_GRACE_MS,
  OrphanBookingReconciler,
  RedisOrphanBookingScanCursor,
} from "./orphan-bookings.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { serviceClock } from "../../lib/runtime/service-clock.js";
import { type Carrier, MemoryCarrierLedger, SimulatedCarrier } from "./carrier.js";
import { RedisCarrierLedger } from "./carrier-redis-ledger.js";
import { type DeliveryPoller, startDeliveryPoller } from "./delivery.js";
import { createShippingHandlers, type ShippingHandlers } from "./handlers.js";
import { MUST_COMPLETE_MAX_SILENT_DELIVERIES } from "../../lib/bus/retry-policy.js";
import type { Subscriber } from "../../lib/bus/subscriber.js";
import { RedisShippingStore } from "./redis-store.js";
import { registerShippingRoutes } from "./routes.js";
import { MemoryShippingStore, type ShippingStore } from "./store.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";

export interface ShippingServiceOptions {
  /** Default: the simulated carrier ("SimShip"), its ledger in Redis when the platform has Redis. */
  carrier?: Carrier;
  /** How long the simulated carrier takes for `slowship-` products (default 60 s). */
  slowDelayMs?: number;
  /** How late the simulated carrier answers a `lateship-` booking it made (default 7.5 s). */
  lateAnswerMs?: number;
  /**
   * Time budget of one carrier call (default 5 s). A booking that takes longer is settled by asking
   * the carrier what its key did (retrieve-by-key); one that booked nothing goes unanswered.
   */
  carrierTimeoutMs?: number;
  /** Retrieve-by-key tries after a lost or late booking answer (default 3). */
  carrierRetrieveTries?: number;
  /** Pause before the first retrieve, doubled after each try, ms (default 200). */
  carrierRetrieveBackoffMs?: number;
  /**
   * Time from the order's completion (the saga's pivot, status `shipped`) to `delivered` (default
   * 5 s; `SHIPPING_DELIVERY_DELAY_MS`).
   */
  deliveryDelayMs?: number;
  /** How often due deliveries are polled (default 500 ms). */
  pollIntervalMs?: number;
  /** Consecutive unreadable tries after which a due shipment is parked (default `DEFAULT_PARK_AFTER`). */
  parkAfter?: number;
  /**
   * Clock for due times and record times; tests pass a fake one. Default: Redis `TIME` on the Redis
   * platform (`serviceClock`: every instance schedules and polls on one clock, so a fast or slow
   * instance clock neither delivers early nor late), the host's clock in memory.
   */
  now?: () => number;
  /**
   * Age (ms) at which a carrier booking with no shipment record is cancelled by key (default 10 min,
   * `SHIPPING_ORPHAN_GRACE_MS`; orphan-bookings.ts says why that long).
   */
  orphanGraceMs?: number;
  /** Interval (ms) between orphan-booking passes (default 60 s, `SHIPPING_ORPHAN_SCAN_INTERVAL_MS`); 0: none. */
  orphanScanIntervalMs?: number;
  /** Wait (ms) after an orphan-booking pass that stopped on its budget, behind (default 1 s; tests shorten it). */
  orphanCatchUpDelayMs?: number;
  /** Wait (ms) before the first orphan-booking pass (default the interval; tests shorten it). */
  orphanScanFirstDelayMs?: number;
  /** Bookings examined per orphan-booking pass at most (default 2000; tests lower it). */
  orphanMaxPerPass?: number;
}

/**
 * The shipping service's subscriptions and their retry policies. A compensation (cancel) and the
 * post-pivot delivery scheduling (`order.completed`) ride the must-complete policy (retried through
 * outages for hours, never dead-lettered by the short default budget): they must happen. A shipment
 * request is on the default policy (3 attempts for an error that may be poison: an unreadable
 * record, a store error), but its errors that say the booking's outcome is not known yet
 * (`CARRIER_OUTCOME_UNKNOWN`: its call still in flight, or `CARRIER_UNAVAILABLE`: the carrier cannot
 * be asked) `waits` (lib/bus/errors.ts), and wait inside the must-complete window: a state to
 * resolve, not a failure (DESIGN §6). The subscriber's crash-loop limit is
 * `MUST_COMPLETE_MAX_SILENT_DELIVERIES` (10) deliveries without an outcome (an instance killed
 * holding the message) for all three, as in payment and inventory, not the default policy's 3.
 */
export function registerShippingHandlers<S extends Subscriber<typeof AllEvents, typeof AllEvents>>(
  subscriber: S,
  handlers: ShippingHandlers,
): S {
  // Both must-complete handlers decide from the shipment record (the system of record, kept) and
  // call the carrier under the order's stable key (its bookings are kept too): a cancel of a shipment
  // already cancelled, delivered or voided is answered from the record, and a delivery already
  // scheduled is not scheduled again, at any age. So they say `dedupedBy: "record"`: an operator's
  // DLQ retry past MARKER_TTL_MS runs once in effect instead of being refused as too old.
  const mustComplete = { policy: "must-complete", dedupedBy: "record" } as const;
  subscriber
    // A booking is asked about until the carrier answers (prepared, or refused) or the saga's
    // deadline cancels it by key, after which the record (voided or cancelled) makes the waiting
    // request a no-op: the wait ends with the saga, without an operator (break12 F3: 3 attempts
    // dead-lettered a request whose booking a killed instance had left in flight at the carrier).
    // Only the errors that wait do so; any other is parked after 3 attempts, where an operator
    // sees it at once rather than after the must-complete window.
    .on("shipping.shipment.requested", handlers.shipmentRequested)
    // A compensation must happen: retried through outages for hours, never dead-lettered early.
    .on("order.compensation.shipment.cancel", handlers.cancelRequested, mustComplete)
    // After the pivot the saga only goes forward: scheduling the delivery must happen too.
    .on("order.completed", handlers.orderCompleted, mustComplete);
  return subscriber;
}

export function createShippingService(
  options: ShippingServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  return {
    name: "shipping",
    version: PACKAGE_VERSION,
    create: async (deps) => {
      const store = platformStore<ShippingStore>(deps.platform, {
        redis: (redis) => new RedisShippingStore(redis),
        memory: (publish) => new MemoryShippingStore(publish),
      });
      const clock = options.now ? undefined : await serviceClock(deps);
      const now = options.now ?? (() => clock!.now());
      const carrier =
        options.carrier ??
        new SimulatedCarrier({
          ledger: deps.platform.redis
            ? new RedisCarrierLedger(deps.platform.redis)
            : new MemoryCarrierLedger(),
          // The simulated carrier's own clock: its ledger is in Redis, so Redis's. Its bookings are
          // dated on it, and every instance's orphan-booking pass compares those dates with its
          // now − grace and the shared scan position (never a host clock: break19 F1).
          now,
          ...(options.slowDelayMs === undefined ? {} : { slowDelayMs: options.slowDelayMs }),
          ...(options.lateAnswerMs === undefined ? {} : { lateAnswerMs: options.lateAnswerMs }),
        });
      const carrierTimeoutMs = options.carrierTimeoutMs ?? 5_000;
      const handlers = createShippingHandlers({
        store,
        carrier,
        now,
        carrierTimeoutMs,
        ...(options.carrierRetrieveTries === undefined
          ? {}
          : { carrierRetrieveTries: options.carrierRetrieveTries }),
        ...(options.carrierRetrieveBackoffMs === undefined
          ? {}
          : { carrierRetrieveBackoffMs: options.carrierRetrieveBackoffMs }),
        deliveryDelayMs: options.deliveryDelayMs ?? DEFAULT_DELIVERY_DELAY_MS,
      });
      // Given, the crash-loop limit holds for the default-policy shipment request too.
      const subscriber = registerShippingHandlers(
        deps.subscriber({ retry: { maxSilentDeliveries: MUST_COMPLETE_MAX_SILENT_DELIVERIES } }),
        handlers,
      );
      let poller: DeliveryPoller | undefined;
      // The warning is logged once per shipment; the counters show the shipments that keep failing
      // (each failed try counts once, across instances about one per backoff, at most 30 s apart).
      const unreadable = new Counter({
        name: "ordersaga_shipping_unreadable_records_total",
        help: "Failed delivery tries of a due shipment whose record cannot be read (it is tried again after a backoff)",
        registers: [deps.metrics.registry],
      });
      const errors = new Counter({
        name: "ordersaga_shipping_delivery_errors_total",
        help: "Failed delivery tries of a due shipment for another reason, e.g. a Redis error on its key (tried again after a backoff)",
        registers: [deps.metrics.registry],
      });
      const parked = new Counter({
        name: "ordersaga_shipping_deliveries_parked_total",
        help: "Due shipments this instance parked: their record did not read in 15 consecutive tries (DEFAULT_PARK_AFTER)",
        registers: [deps.metrics.registry],
      });
      new Gauge({
        name: "ordersaga_shipping_deliveries_parked",
        help: "Shipments parked and not yet re-queued (same on every instance: max, not sum)",
        registers: [deps.metrics.registry],
        async collect() {
          // One HLEN per scrape; a failed read shows no value rather than a stale one.
          const count = await store.parkedCount().catch(() => undefined);
          this.reset();
          if (count !== undefined) this.set(count);
        },
      });
      const orphans = orphanBookingReconciler(deps, options, {
        store,
        carrier,
        carrierTimeoutMs,
        handlers,
        now,
      });
      return {
        subscribers: [subscriber],
        routes: (app) => registerShippingRoutes(app, { store, now, logger: deps.logger }),
        start: async () => {
          await orphans.start();
          poller = startDeliveryPoller({
            store,
            publisher: deps.publisher,
            now,
            intervalMs: options.pollIntervalMs ?? 500,
            ...(options.parkAfter === undefined ? {} : { parkAfter: options.parkAfter }),
            logger: deps.logger,
            unreadable,
            errors,
            parked,
          });
        },
        stop: async () => {
          await orphans.stop();
          await poller?.stop();
          clock?.stop();
        },
      };
    },
  };
}

type ShippingDeps = Parameters<ServiceDefinition<typeof AllEvents>["create"]>[0];

/**
 * The periodic orphan-booking pass (orphan-bookings.ts) as the service's timer: every instance runs
 * it (the record's compare-and-set makes racing instances cancel a booking once); each booking
 * cancelled is counted in `ordersaga_shipping_orphan_bookings_cancelled_total` and logged as an error
 * naming the order.
 */
function orphanBookingReconciler(
  deps: ShippingDeps,
  options: ShippingServiceOptions,
  parts: {
    store: ShippingStore;
    carrier: Carrier;
    carrierTimeoutMs: number;
    handlers: ShippingHandlers;
    /** The shared clock (Redis `TIME`): the carrier dates its bookings on it. */
    now: () => number;
  },
): { start: () => Promise<void>; stop: () => Promise<void> } {
  const cancelled = new Counter({
    name: "ordersaga_shipping_orphan_bookings_cancelled_total",
    help: "Carrier bookings with no shipment record past SHIPPING_ORPHAN_GRACE_MS (an order lost with Redis's last writes), cancelled by key",
    registers: [deps.metrics.registry],
  });
  const lag = new Gauge({
    name: "ordersaga_shipping_orphan_scan_lag_seconds",
    help: "How far the orphan-booking pass's position is behind now - SHIPPING_ORPHAN_GRACE_MS after this instance's last pass (0: caught up); orphans older than the grace wait this much longer",
    registers: [deps.metrics.registry],
  });
  const { lookbackMs, timing } = orphanPassTiming(options);
  const reconciler = new OrphanBookingReconciler({
    // The dashboard list within the carrier call's time budget.
    carrier: {
      list: (page) => withTimeout((signal) => parts.carrier.list(page, signal), parts.carrierTimeoutMs),
    },
    store: parts.store,
    cancelOrphanBooking: parts.handlers.cancelOrphanBooking,
    // In Redis, shared: a restart resumes where the instances reached.
    ...(deps.platform.redis ? { cursor: new RedisOrphanBookingScanCursor(deps.platform.redis) } : {}),
    lookbackMs,
    now: parts.now,
    graceMs: options.orphanGraceMs ?? DEFAULT_ORPHAN_BOOKING_GRACE_MS,
    ...(options.orphanMaxPerPass === undefined ? {} : { maxPerPass: options.orphanMaxPerPass }),
    onCancelled: (booking) => {
      cancelled.inc();
      deps.logger.error(
        { orderId: booking.orderId, shipmentId: booking.shipmentId, createdAt: booking.createdAt },
        "orphan booking (no shipment record past the grace period): cancelled at the carrier",
      );
    },
    onFinished: (booking) =>
      deps.logger.error(
        { orderId: booking.orderId, shipmentId: booking.shipmentId },
        "orphan booking whose cancel stopped earlier: cancelled at the carrier now",
      ),
  });
  return scanPassesPart(reconciler, timing, { what: "orphan-booking", lag, logger: deps.logger });
}

/** Default of `SHIPPING_DELIVERY_DELAY_MS`: an order is `delivered` about 5 s after `shipped`. */
export const DEFAULT_DELIVERY_DELAY_MS = 5_000;

/**
 * Longest `SHIPPING_DELIVERY_DELAY_MS`: 30 days, longer than any parcel service's transit. Past
 * 8.64e15 ms a due date is no valid Date (ECMA-262 §21.4.1.1), so every shipment's event threw.
 */
export const MAX_DELIVERY_DELAY_MS = 30 * 24 * 60 * 60 * 1000;

const shippingEnvSchema = serviceEnvSchema.pick({ CLAIM_IDLE_MS: true }).extend({
  /** The order service's step deadline (shared env): read only to check the orphan grace against it. */
  SAGA_STEP_TIMEOUT_MS: z.coerce.number().int().positive().default(DEFAULT_SAGA_OPTIONS.stepTimeoutMs),
  // At least 2 min: past the carrier's 60 s in-flight lease and the saga's 45 s shipping step.
  SHIPPING_ORPHAN_GRACE_MS: z.coerce
    .number()
    .int()
    .min(120_000)
    .max(86_400_000)
    .default(DEFAULT_ORPHAN_BOOKING_GRACE_MS),
  SHIPPING_ORPHAN_SCAN_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(DEFAULT_ORPHAN_SCAN_INTERVAL_MS),
  SHIPPING_DELIVERY_DELAY_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_DELIVERY_DELAY_MS, "must be at most 2592000000 (30 days)")
    .default(DEFAULT_DELIVERY_DELAY_MS),
});

/**
 * The shipping service's variables (`SHIPPING_DELIVERY_DELAY_MS`, `SHIPPING_ORPHAN_GRACE_MS`,
 * `SHIPPING_ORPHAN_SCAN_INTERVAL_MS`, the grace checked against `CLAIM_IDLE_MS` and
 * `SAGA_STEP_TIMEOUT_MS`); throws `ConfigError` when invalid.
 */
export function shippingConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ShippingServiceOptions {
  const parsed = parseEnv(shippingEnvSchema, env);
  const problem = orphanGraceProblemOf(
    "SHIPPING_ORPHAN_GRACE_MS",
    parsed.SHIPPING_ORPHAN_GRACE_MS,
    parsed.CLAIM_IDLE_MS,
    parsed.SAGA_STEP_TIMEOUT_MS,
  );
  if (problem) throw new ConfigError([{ path: ["SHIPPING_ORPHAN_GRACE_MS"], message: problem }]);
  return {
    deliveryDelayMs: parsed.SHIPPING_DELIVERY_DELAY_MS,
    orphanGraceMs: parsed.SHIPPING_ORPHAN_GRACE_MS,
    orphanScanIntervalMs: parsed.SHIPPING_ORPHAN_SCAN_INTERVAL_MS,
  };
}

export const shippingService: ServiceDefinition<typeof AllEvents> = configReadAtStart("shipping", () =>
  createShippingService(shippingConfigFromEnv()),
);
