/**
 * The payment service: charges orders through a (simulated) provider behind a circuit breaker and
 * a timeout, refunds them on compensation, and serves payment records to operators.
 */
import { configReadAtStart } from "../../lib/runtime/config-at-start.js";
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { MUST_COMPLETE_MAX_SILENT_DELIVERIES, type MustCompletePolicy } from "../../lib/bus/retry-policy.js";
import { ConfigError, parseEnv, serviceEnvSchema } from "../../lib/runtime/config.js";
import { ORPHAN_GRACE_MARGIN_MS, orphanGraceProblemOf } from "../order/config.js";
import { DEFAULT_SAGA_OPTIONS } from "../order/saga-model.js";
import type { AllEvents } from "../../contracts/index.js";
import type { ServiceDefinition } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { createPaymentHandlers, refundKey } from "./handlers.js";
import { MemoryProviderLedger, type PaymentProvider, SimulatedPaymentProvider } from "./provider.js";
import { createProviderClient, PROVIDER_BREAKER } from "./provider-client.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";
import { RedisPaymentStore } from "./redis-store.js";
import { registerPaymentRoutes } from "./routes.js";
import { MemoryPaymentStore, type PaymentStore } from "./store.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";
import { Counter, Gauge } from "prom-client";
import {
  DEFAULT_ORPHAN_GRACE_MS,
  DEFAULT_ORPHAN_SCAN_INTERVAL_MS,
  OrphanChargeReconciler,
  RedisOrphanScanCursor,
} from "./orphan-charges.js";
import { orphanPassTiming, scanPassesPart } from "../../lib/runtime/creation-scan.js";
import { cardFingerprintKey, tokenKeyStoreOf, tokenOpenerFromEnv } from "../../lib/security/payment-token.js";
import { serviceClock } from "../../lib/runtime/service-clock.js";

export interface PaymentServiceOptions {
  /** Default: the simulated provider, its ledger in Redis when the platform has Redis. */
  provider?: PaymentProvider;
  /** Time budget of one provider call (default 2 s). */
  timeoutMs?: number;
  /** Consecutive provider failures that open the circuit (default 5). */
  breakerFailureThreshold?: number;
  /** How long the open circuit fails fast before a trial call (default 30 s). */
  breakerOpenMs?: number;
  /** Payment ids (default random UUIDs). */
  newId?: () => string;
  /**
   * The bus's must-complete numbers for this service's messages (default: the bus's, 1 s doubling
   * to 60 s, for `BUS_MUST_COMPLETE_WINDOW_MS` = 6 h). Tests shorten them.
   */
  mustComplete?: Partial<MustCompletePolicy>;
  /**
   * Deliveries of one message that ended with no outcome (its process died while handling it)
   * before it is dead-lettered without running (default `MUST_COMPLETE_MAX_SILENT_DELIVERIES`, 10, as
   * inventory and shipping): must-complete charges and
   * refunds get more than the bus's default 3 process deaths, and a message that keeps killing its
   * process still ends parked in the DLQ, where an operator sees it.
   */
  maxSilentDeliveries?: number;
  /**
   * Age (ms) at which a provider charge with no payment record is voided and given back (default
   * 10 min, `PAYMENT_ORPHAN_GRACE_MS`; orphan-charges.ts says why that long).
   */
  orphanGraceMs?: number;
  /** Interval (ms) between orphan-charge passes (default 60 s, `PAYMENT_ORPHAN_SCAN_INTERVAL_MS`); 0: none. */
  orphanScanIntervalMs?: number;
  /** Wait (ms) after an orphan-charge pass that stopped on its budget, behind (default 1 s; tests shorten it). */
  orphanCatchUpDelayMs?: number;
  /** Wait (ms) before the first orphan-charge pass (default the interval; tests shorten it). */
  orphanScanFirstDelayMs?: number;
  /** Charges examined per orphan-charge pass at most (default 2000; tests lower it). */
  orphanMaxPerPass?: number;
}

const paymentEnvSchema = serviceEnvSchema.pick({ CLAIM_IDLE_MS: true }).extend({
  /** The order service's step deadline (shared env): read only to check the orphan grace against it. */
  SAGA_STEP_TIMEOUT_MS: z.coerce.number().int().positive().default(DEFAULT_SAGA_OPTIONS.stepTimeoutMs),
  PAYMENT_PROVIDER_TIMEOUT_MS: z.coerce.number().int().min(50).max(60_000).default(2_000),
  PAYMENT_BREAKER_FAILURE_THRESHOLD: z.coerce.number().int().min(1).max(1_000).default(5),
  PAYMENT_BREAKER_OPEN_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  // At least 2 min: past the provider's 60 s in-flight lease and the saga's 45 s payment step.
  PAYMENT_ORPHAN_GRACE_MS: z.coerce
    .number()
    .int()
    .min(120_000)
    .max(86_400_000)
    .default(DEFAULT_ORPHAN_GRACE_MS),
  PAYMENT_ORPHAN_SCAN_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(3_600_000)
    .default(DEFAULT_ORPHAN_SCAN_INTERVAL_MS),
});

/** Margin (ms) the orphan grace must keep past a takeover and the saga's step (see `orphanGraceProblemOf`). */
export { ORPHAN_GRACE_MARGIN_MS };

/**
 * Why `PAYMENT_ORPHAN_GRACE_MS` (ms) is too short, or undefined when it is long enough (break15 F6):
 * `orphanGraceProblemOf` (order/config.ts), shared with the shipping service's orphan-booking grace.
 * A charge whose handler stalled is finished by another instance after `CLAIM_IDLE_MS` plus a step's
 * processing, and the saga refunds by itself after `SAGA_STEP_TIMEOUT_MS`; a grace that does not
 * outlast both (plus the provider's 60 s in-flight lease) voids a live order's charge.
 */
export const orphanGraceProblem = (
  graceMs: number,
  claimIdleMs: number,
  stepTimeoutMs: number,
): string | undefined => orphanGraceProblemOf("PAYMENT_ORPHAN_GRACE_MS", graceMs, claimIdleMs, stepTimeoutMs);

/**
 * The payment service's variables (`PAYMENT_PROVIDER_TIMEOUT_MS`, `PAYMENT_BREAKER_FAILURE_THRESHOLD`,
 * `PAYMENT_BREAKER_OPEN_MS`, `PAYMENT_ORPHAN_GRACE_MS`, `PAYMENT_ORPHAN_SCAN_INTERVAL_MS`, the grace
 * checked against `CLAIM_IDLE_MS` and `SAGA_STEP_TIMEOUT_MS`); throws `ConfigError` when invalid.
 */
export function paymentConfigFromEnv(env: NodeJS.ProcessEnv = process.env): PaymentServiceOptions {
  const parsed = parseEnv(paymentEnvSchema, env);
  const problem = orphanGraceProblem(
    parsed.PAYMENT_ORPHAN_GRACE_MS,
    parsed.CLAIM_IDLE_MS,
    parsed.SAGA_STEP_TIMEOUT_MS,
  );
  if (problem) throw new ConfigError([{ path: ["PAYMENT_ORPHAN_GRACE_MS"], message: problem }]);
  return {
    timeoutMs: parsed.PAYMENT_PROVIDER_TIMEOUT_MS,
    breakerFailureThreshold: parsed.PAYMENT_BREAKER_FAILURE_THRESHOLD,
    breakerOpenMs: parsed.PAYMENT_BREAKER_OPEN_MS,
    orphanGraceMs: parsed.PAYMENT_ORPHAN_GRACE_MS,
    orphanScanIntervalMs: parsed.PAYMENT_ORPHAN_SCAN_INTERVAL_MS,
  };
}

export function createPaymentService(
  options: PaymentServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  return {
    name: "payment",
    version: PACKAGE_VERSION,
    create: async (deps) => {
      const redis = deps.platform.redis;
      // Every time another instance compares (a charge's creation date against the orphan grace and
      // the shared scan position, the outage window, the records' times) is on one clock: Redis
      // `TIME` over Redis, never this host's (DESIGN §6; break19 F1: a host 15 min ahead voided fresh
      // charges as orphans, one behind dated its charges below the others' scan position).
      const clock = await serviceClock(deps);
      const now = clock.now;
      const store = platformStore<PaymentStore>(deps.platform, {
        redis: (r, retention) => new RedisPaymentStore(r, retention),
        memory: (publish) => new MemoryPaymentStore(publish),
      });
      const provider =
        options.provider ??
        new SimulatedPaymentProvider({
          ledger: redis
            ? new RedisProviderLedger(redis, { callCounterTtlMs: deps.platform.retention.markerTtlMs })
            : new MemoryProviderLedger(),
          // The simulated provider's own clock: its ledger is in Redis, so Redis's.
          now,
          fingerprintKey: cardFingerprintKey(),
        });
      deps.metrics.trackBreaker(PROVIDER_BREAKER);
      const client = createProviderClient({
        provider,
        // The breaker is this instance's own (opened and timed here) on the default monotonic
        // source: never deps.now, a wall clock whose step back held it open (break22 F2).
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.breakerFailureThreshold === undefined
          ? {}
          : { failureThreshold: options.breakerFailureThreshold }),
        ...(options.breakerOpenMs === undefined ? {} : { openMs: options.breakerOpenMs }),
        onStateChange: (change) => {
          deps.metrics.recordBreakerChange(change);
          deps.logger.warn(
            { breaker: change.breaker, from: change.from, to: change.to },
            "circuit state changed",
          );
        },
      });
      const handlers = createPaymentHandlers({
        store,
        provider: client,
        now,
        newId: options.newId ?? randomUUID,
        // Throws (the service does not start) in production without PAYMENT_TOKEN_KEYS.
        tokens: tokenOpenerFromEnv(tokenKeyStoreOf(deps.platform)),
      });
      // One retry layer per message, the bus's must-complete policy, with one documented window
      // (README, "Delivery guarantees"): every message here must happen and none is poison (payloads
      // are validated before a handler runs; errors that cannot heal are not retryable and go to the
      // DLQ at once). A charge or refund the provider cannot take now (outage, open breaker, an
      // outcome it could not be asked about yet) throws a retryable error carrying the breaker's
      // retry-after, so it waits without hammering the provider; an ambiguous answer is settled by
      // the provider's retrieve-by-key (provider-client.ts) before anything is decided. A charge
      // retried past its saga's step deadline is harmless: the saga's refund voids the order first,
      // and a voided order is never charged (handlers.ts).
      const mustComplete = { policy: "must-complete" } as const;
      const subscriber = deps
        .subscriber({
          ...(options.mustComplete ? { mustComplete: options.mustComplete } : {}),
          retry: { maxSilentDeliveries: options.maxSilentDeliveries ?? MUST_COMPLETE_MAX_SILENT_DELIVERIES },
        })
        .on("payment.requested", handlers.paymentRequested, mustComplete)
        // A refund is decided from the payment record (kept like the system of record, no TTL) and
        // refunded at the provider under `refund:<orderId>`: a replay of any age is harmless, so an
        // operator's DLQ retry weeks later runs (once in effect) instead of being refused as too
        // old to deduplicate (dedupe-window.ts).
        .on("order.compensation.payment.refund", handlers.refundRequested, {
          ...mustComplete,
          dedupedBy: "record",
        })
        // How each order ended, for the reconciliation of money against outcomes.
        .on("order.completed", ({ orderId }) => store.recordOutcome(orderId, "completed"), mustComplete)
        .on("order.delivered", ({ orderId }) => store.recordOutcome(orderId, "delivered"), mustComplete)
        .on("order.failed", ({ orderId }) => store.recordOutcome(orderId, "failed"), mustComplete)
        .on("order.cancelled", ({ orderId }) => store.recordOutcome(orderId, "cancelled"), mustComplete)
        .on(
          "order.compensation.failed",
          ({ orderId }) => store.recordOutcome(orderId, "compensation_failed"),
          mustComplete,
        )
        .on(
          "order.compensation.resolved",
          ({ orderId }) => store.recordOutcome(orderId, "compensation_resolved"),
          mustComplete,
        );
      const orphans = orphanChargeReconciler(deps, options, { store, client, handlers, now });
      return {
        start: orphans.start,
        stop: async () => {
          await orphans.stop();
          clock.stop();
        },
        subscribers: [subscriber],
        // Operators' reads go through the same client: its time budget and breaker.
        routes: (app) => registerPaymentRoutes(app, { store, provider: client, refundKey }),
      };
    },
  };
}

type PaymentDeps = Parameters<ServiceDefinition<typeof AllEvents>["create"]>[0];

/**
 * The periodic orphan-charge pass (orphan-charges.ts) as the service's timer: every instance runs
 * it (the record's compare-and-set makes racing instances void a charge once); each charge voided is
 * counted in `ordersaga_payment_orphan_charges_voided_total` and logged as an error naming the order.
 */
function orphanChargeReconciler(
  deps: PaymentDeps,
  options: PaymentServiceOptions,
  parts: {
    store: PaymentStore;
    client: ReturnType<typeof createProviderClient>;
    handlers: ReturnType<typeof createPaymentHandlers>;
    /** The shared clock (Redis `TIME`): the provider dates its charges on it. */
    now: () => number;
  },
): { start: () => Promise<void>; stop: () => Promise<void> } {
  const voided = new Counter({
    name: "ordersaga_payment_orphan_charges_voided_total",
    help: "Provider charges with no payment record past PAYMENT_ORPHAN_GRACE_MS (an order lost with Redis's last writes), voided and given back",
    registers: [deps.metrics.registry],
  });
  const lag = new Gauge({
    name: "ordersaga_payment_orphan_scan_lag_seconds",
    help: "How far the orphan-charge pass's position is behind now - PAYMENT_ORPHAN_GRACE_MS after this instance's last pass (0: caught up); orphans older than the grace wait this much longer",
    registers: [deps.metrics.registry],
  });
  const { lookbackMs, timing } = orphanPassTiming(options);
  const reconciler = new OrphanChargeReconciler({
    provider: parts.client,
    store: parts.store,
    voidOrphanCharge: parts.handlers.voidOrphanCharge,
    // In Redis, shared: a restart resumes where the instances reached (break15 F1).
    ...(deps.platform.redis ? { cursor: new RedisOrphanScanCursor(deps.platform.redis) } : {}),
    lookbackMs,
    now: parts.now,
    graceMs: options.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS,
    ...(options.orphanMaxPerPass === undefined ? {} : { maxPerPass: options.orphanMaxPerPass }),
    onVoided: (charge) => {
      voided.inc();
      deps.logger.error(
        { orderId: charge.idempotencyKey, amount: charge.amount, currency: charge.currency },
        "orphan charge (no payment record past the grace period): voided and given back",
      );
    },
    // The order exists and ended without its money (break16 F5: a payment instance stalled past
    // the grace with the charge made): voided, its refund settled once, but no order was lost.
    onEndedOrderVoided: (charge, outcome) =>
      deps.logger.warn(
        { orderId: charge.idempotencyKey, amount: charge.amount, currency: charge.currency, outcome },
        "charge with no payment record past the grace period, for an order that ended without it: voided and given back",
      ),
    onCompletedOrderKept: (charge, outcome) =>
      deps.logger.error(
        { orderId: charge.idempotencyKey, amount: charge.amount, currency: charge.currency, outcome },
        "charge with no payment record past the grace period, for an order that kept it: not voided; needs an operator",
      ),
    // Its void stopped after the record (an outage, a killed instance): counted then; this says
    // the money is now back.
    onGivenBack: (charge) =>
      deps.logger.error(
        { orderId: charge.idempotencyKey, amount: charge.amount, currency: charge.currency },
        "orphan charge voided earlier: given back now",
      ),
  });
  return scanPassesPart(reconciler, timing, { what: "orphan-charge", lag, logger: deps.logger });
}

export const paymentService: ServiceDefinition<typeof AllEvents> = configReadAtStart("payment", () =>
  createPaymentService(paymentConfigFromEnv()),
);
