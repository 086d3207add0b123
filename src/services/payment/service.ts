/**
 * The payment service: charges orders through a (simulated) provider behind a circuit breaker and
 * a timeout, refunds them on compensation, and serves payment records to operators.
 */
import { randomUUID } from "node:crypto";
import { exponentialBackoff } from "../../lib/resilience/backoff.js";
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
   * Deliveries of one message before it is dead-lettered (default 2000: with the backoff below,
   * capped at 15 s, about 8 hours). Charges and refunds wait out provider outages; they are not
   * poison. Only errors that cannot heal (invalid payload) are dead-lettered at once.
   */
  maxDeliveries?: number;
  /** First redelivery delay in ms, doubled per delivery up to 15 s (default 250). */
  redeliveryBaseMs?: number;
}

export function createPaymentService(
  options: PaymentServiceOptions = {},
): ServiceDefinition<typeof AllEvents> {
  return {
    name: "payment",
    version: PACKAGE_VERSION,
    create: (deps) => {
      const redis = deps.platform.redis;
      const store = platformStore<PaymentStore>(deps.platform, {
        redis: (r, retention) => new RedisPaymentStore(r, retention),
        memory: (publish) => new MemoryPaymentStore(publish),
      });
      const provider =
        options.provider ??
        new SimulatedPaymentProvider({
          ledger: redis
            ? new RedisProviderLedger(redis, { entryTtlMs: deps.platform.retention.markerTtlMs })
            : new MemoryProviderLedger(),
          now: deps.now,
        });
      deps.metrics.trackBreaker(PROVIDER_BREAKER);
      const client = createProviderClient({
        provider,
        now: deps.now,
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
        now: deps.now,
        newId: options.newId ?? randomUUID,
      });
      const backoff = exponentialBackoff({
        baseMs: options.redeliveryBaseMs ?? 250,
        maxMs: 15_000,
        jitter: "equal",
      });
      // Redelivered no earlier than the breaker lets a trial call through: waiting costs nothing.
      const retry = {
        maxAttempts: options.maxDeliveries ?? 2_000,
        backoff: (attempt: number) => Math.max(client.retryAfterMs(), backoff(attempt)),
      };
      const subscriber = deps
        .subscriber({ retry })
        .on("payment.requested", handlers.paymentRequested)
        // A refund must happen: the bus's must-complete policy (capped backoff for hours, visible
        // while it waits, dead-lettered only for errors that cannot heal).
        .on("order.compensation.payment.refund", handlers.refundRequested, { policy: "must-complete" })
        // How each order ended, for the reconciliation of money against outcomes.
        .on("order.completed", ({ orderId }) => store.recordOutcome(orderId, "completed"))
        .on("order.delivered", ({ orderId }) => store.recordOutcome(orderId, "delivered"))
        .on("order.failed", ({ orderId }) => store.recordOutcome(orderId, "failed"))
        .on("order.cancelled", ({ orderId }) => store.recordOutcome(orderId, "cancelled"))
        .on("order.compensation.failed", ({ orderId }) =>
          store.recordOutcome(orderId, "compensation_failed"),
        );
      return {
        subscribers: [subscriber],
        routes: (app) => registerPaymentRoutes(app, { store, provider, refundKey }),
      };
    },
  };
}

export const paymentService = createPaymentService();
