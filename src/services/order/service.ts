/**
 * Wires the order service: stores (Redis when the platform has it, else memory), the saga runner,
 * the reply handlers, the deadline and shred sweepers, and the read side: the order view, deadline
 * index and list index are inline projections, written by each order's append in the same atomic
 * step (no poller). Their `ProjectionRunner`s are kept, never started, as the rebuild path (docs/storage.md).
 */
import { configReadAtStart } from "../../lib/runtime/config-at-start.js";
import { Counter, Gauge } from "prom-client";
import { exponentialBackoff } from "../../lib/resilience/backoff.js";
import type { AllEvents } from "../../contracts/index.js";
import { newMessageId } from "../../lib/bus/envelope.js";
import { type Projection, ProjectionRunner, type ReadModelStore } from "../../lib/eventstore/index.js";
import type { ServiceDefinition, ServiceDeps } from "../../lib/runtime/service-host.js";
import { platformStore } from "../../lib/runtime/platform-store.js";
import { readModelKey } from "../../lib/eventstore/keys.js";
import type { SharedClock } from "../../lib/redis/clock.js";
import { serviceClock } from "../../lib/runtime/service-clock.js";
import { orderConfigFromEnv } from "./config.js";
import { type LostOrderReplies, registerOrderHandlers } from "./handlers.js";
import { memoryLostReplyOutbox, redisLostReplyOutbox } from "./lost-replies.js";
import { type OrderListEntry, orderListProjection } from "./order-list.js";
import { aofRewriteThrottleKey, ORDER_TAG } from "./keys.js";
import { type DeadlineView, deadlineProjection, type OrderView, orderViewProjection } from "./projections.js";
import { createRedisOrderStores } from "./redis-store.js";
import { countPendingCompensations } from "./compensation-gauge.js";
import { OrderRepository } from "./repository.js";
import { registerOrderRoutes } from "./routes.js";
import { DEFAULT_SAGA_OPTIONS } from "./saga.js";
import { type AppliedDecision, SagaRunner } from "./saga-runner.js";
import type { Metrics } from "../../lib/observability/metrics.js";
import { createMemoryOrderStores, inlineProjections, type OrderStores } from "./store.js";
import { DeadlineSweeper } from "./sweeper.js";
import { shredWithRetry } from "./token-shred.js";
import { DEFAULT_SHRED_GRACE_MS, ShredSweeper } from "./shred-sweeper.js";
import { ViewRetention } from "./view-retention.js";
import { PACKAGE_VERSION } from "../../lib/runtime/version.js";
import { AofCompactor } from "../../lib/security/aof-compactor.js";
import {
  type SealFormat,
  type TokenSealer,
  tokenKeyStoreOf,
  tokenSealerFromEnv,
} from "../../lib/security/payment-token.js";
import { monotonicNow } from "../../lib/resilience/monotonic.js";

const REPLY_RETRY = { maxAttempts: 10, backoff: exponentialBackoff({ baseMs: 100, maxMs: 10_000 }) };

export interface OrderServiceOptions {
  /** Deadline of each saga step in ms (default 45 s; see `SagaOptions.stepTimeoutMs`). */
  stepTimeoutMs?: number;
  /** Time compensations have to be confirmed before `compensation_failed`, in ms (default 6 h). */
  compensationWindowMs?: number;
  /** Payment attempts before transient failures fail the order (default 3). */
  maxPaymentAttempts?: number;
  /** How often overdue orders are looked for (default 1 s). */
  sweepIntervalMs?: number;
  /** How long an Idempotency-Key of POST /orders is remembered (default 24 h, in ms; env `ORDER_IDEMPOTENCY_TTL_MS`). */
  idempotencyTtlMs?: number;
  /** Order ids (default UUIDv7). */
  newOrderId?: () => string;
  /** Replaces the platform's stores (tests). */
  stores?: (deps: ServiceDeps<typeof AllEvents>) => OrderStores;
  /** Folded orders cached per repository (default 10,000; env `ORDER_CACHE_SIZE`). */
  cacheSize?: number;
  /**
   * On Redis: least time between two AOF rewrites asked for after shredding token keys, across all
   * order instances (a shared throttle key), ms (default 60 s; env `SHRED_AOF_REWRITE_INTERVAL_MS`).
   * See src/lib/security/aof-compactor.ts.
   */
  aofRewriteIntervalMs?: number;
  /**
   * The payment token entry format sealed (default "v2"; env `PAYMENT_TOKEN_SEAL_FORMAT`): "v1"
   * while a payment service older than v2 may open the tokens (a rolling upgrade; docs/security.md).
   */
  tokenSealFormat?: SealFormat;
  /**
   * How long after a saga ended its shred intent is taken by the shred sweeper, ms (default 60 s:
   * after the immediate shred's retries). See shred-sweeper.ts.
   */
  shredGraceMs?: number;
  /** How often due shred intents are looked for, ms (default 5 s). */
  shredSweepIntervalMs?: number;
  /** Receives the internals once created (tests, admin tooling). */
  onCreated?: (internals: OrderServiceInternals) => void;
}

export interface OrderServiceInternals {
  stores: OrderStores;
  runner: SagaRunner;
  sweeper: DeadlineSweeper;
  /**
   * The read models' rebuild path (replay of the global log; never started: the appends keep the
   * read models current). Run `rebuild()` with every writer of the orders stopped.
   */
  views: ProjectionRunner<OrderView>;
  deadlines: ProjectionRunner<DeadlineView>;
  list: ProjectionRunner<OrderListEntry>;
  clock: SharedClock;
  /** Seals payment tokens for the payment service; shreds an order's at its saga's end. */
  tokens: TokenSealer;
  /** On Redis: rewrites the AOF after shredding, so the deleted key material leaves the file too. */
  compactor: AofCompactor | undefined;
  /** Aborted at stop: the shreds still retrying give up (their intents are left to the shred sweeper). */
  shredding: AbortController;
  /** Finishes the shred intents of ended sagas (this instance's or a dead one's). */
  shredSweeper: ShredSweeper;
  /** How effect replies for lost orders (no history) are compensated. */
  lostReplies: LostOrderReplies;
}

function platformStores(deps: ServiceDeps<typeof AllEvents>): OrderStores {
  return platformStore<OrderStores>(deps.platform, {
    redis: (redis) => createRedisOrderStores({ redis, now: deps.now }),
    memory: (publish) => createMemoryOrderStores({ publish, now: deps.now }),
  });
}

/** Builds the service's parts (no timers started yet). */
async function buildInternals(
  deps: ServiceDeps<typeof AllEvents>,
  options: OrderServiceOptions,
): Promise<OrderServiceInternals> {
  // Redis `TIME` when instances share a Redis (one clock for all), else this process's clock.
  const clock = await serviceClock(deps);
  const now = clock.now;
  const stores = (options.stores ?? platformStores)({ ...deps, now });
  // Throws (the service does not start) in production without PAYMENT_TOKEN_PUBLIC_KEY.
  const tokens = tokenSealerFromEnv(
    tokenKeyStoreOf(deps.platform),
    process.env,
    options.tokenSealFormat === undefined ? {} : { format: options.tokenSealFormat },
  );
  const compactor = deps.platform.redis
    ? new AofCompactor(deps.platform.redis, {
        ...(options.aofRewriteIntervalMs === undefined ? {} : { intervalMs: options.aofRewriteIntervalMs }),
        // One rewrite per interval across every instance, not one per instance (bus8).
        throttleKey: aofRewriteThrottleKey(),
        // The shared clock, as the other parts get it: never the host's wall clock (break16 F3).
        now,
        onRestartSeen: (message) => deps.logger.warn(message),
        onError: (error) =>
          deps.logger.warn(
            { err: error },
            // A request refused (break16 F4) or a rewrite that failed after Redis accepted it (aof9),
            // both asked for again after the interval: the shredded keys are still in the AOF.
            "AOF rewrite after shredding not started or failed; it is asked for again",
          ),
      })
    : undefined;
  const compensationFailures = new Counter({
    name: "ordersaga_order_compensation_failed_total",
    help: "Orders moved to compensation_failed (a compensation unconfirmed in its window, or refused)",
    registers: [deps.metrics.registry],
  });
  // The saga's owner alone exports it: a label-less gauge in the shared Metrics class gave every
  // service and the gateway a `saga_compensations_pending{service="gateway"} 0` sample. Read at
  // scrape time from the stored sagas (break13 F4: a per-process inc/dec count showed 0 after a
  // restart, then went negative), at most once a second; the same on every instance (max, not sum).
  const pendingReader = new OrderRepository(stores.events, { cacheSize: options.cacheSize });
  let pendingRead: { at: number; count: Promise<number | undefined> } | undefined;
  new Gauge({
    name: "ordersaga_saga_compensations_pending",
    help: "Compensations requested and not yet settled, read from the stored sagas (same on every instance: max, not sum)",
    registers: [deps.metrics.registry],
    async collect() {
      const at = monotonicNow(); // a local duration (the 1 s reuse): never the wall clock
      if (!pendingRead || at - pendingRead.at > 1_000)
        pendingRead = {
          at,
          count: countPendingCompensations(stores.deadlines, pendingReader).catch(() => undefined),
        };
      const count = await pendingRead.count;
      this.reset();
      if (count !== undefined) this.set(count);
    },
  });
  const stepTimeoutMs = options.stepTimeoutMs ?? DEFAULT_SAGA_OPTIONS.stepTimeoutMs;
  const shredding = new AbortController();
  const runner = new SagaRunner({
    repository: orderRepository(stores, options),
    saga: {
      stepTimeoutMs,
      maxPaymentAttempts: options.maxPaymentAttempts ?? DEFAULT_SAGA_OPTIONS.maxPaymentAttempts,
      compensationWindowMs: options.compensationWindowMs ?? DEFAULT_SAGA_OPTIONS.compensationWindowMs,
    },
    now,
    onSagaEnded: (outcome, durationMs, orderId) => {
      deps.metrics.recordSaga(outcome, durationMs);
      // Crypto-shredding, fast path: the saga is over, so its payment token is never needed again.
      // A failed delete is retried for ~30 s (break-resend F1). The guarantee is the shred intent
      // the terminal append wrote: removed here only once the delete succeeded, else the shred
      // sweeper (any instance, after the grace) finishes it (issue 12; docs/security.md).
      shredWithRetry((id) => tokens.shred(id), orderId, {
        signal: shredding.signal,
        onRetry: ({ attempt, error }) =>
          deps.logger.warn({ err: error, orderId, attempt }, "payment token key not deleted yet; retrying"),
      })
        .then(() => {
          compactor?.shredded();
          return stores.shredIntents.remove(orderId);
        })
        .catch((error: unknown) =>
          deps.logger.warn(
            { err: error, orderId },
            "payment token key not deleted at the saga's end; the shred sweeper deletes it",
          ),
        );
    },
    onApplied: (applied) => recordSagaProgress(deps.metrics, applied, stepTimeoutMs),
    onCompensationFailed: (orderId) => {
      compensationFailures.inc();
      deps.logger.error({ orderId }, "compensation failed: the order needs an operator (see docs/saga.md)");
    },
  });
  const onError = (what: string) => (error: unknown, orderId?: string) =>
    deps.logger.warn({ err: error, orderId }, `${what} failed`);
  const projection = <V>(p: Projection<V>, readModel: ReadModelStore<V>) =>
    new ProjectionRunner({
      events: stores.projectionEvents ?? stores.events,
      projection: p,
      readModel,
      batchSize: 500,
      onError: onError(p.name),
    });
  const deadlines = projection(deadlineProjection, stores.deadlines);
  const sweeper = new DeadlineSweeper({
    deadlines: stores.deadlines,
    runner,
    preparer: deps.publisher,
    now,
    onError: onError("deadline sweep"),
  });
  const views = projection(orderViewProjection, stores.views);
  const list = projection(orderListProjection, stores.list);
  const shredSweeper = new ShredSweeper({
    intents: stores.shredIntents,
    shred: (orderId) => tokens.shred(orderId),
    onShredded: () => compactor?.shredded(),
    now,
    graceMs: options.shredGraceMs ?? DEFAULT_SHRED_GRACE_MS,
    onError: onError("shred sweep"),
  });
  const lostReplies = lostOrderReplies(deps);
  return {
    stores,
    runner,
    sweeper,
    views,
    deadlines,
    list,
    clock,
    tokens,
    compactor,
    shredding,
    shredSweeper,
    lostReplies,
  };
}

/**
 * Replies for orders with no history (lost with Redis's last writes, break12 F2): their effect is
 * compensated once, counted and logged as an error naming the order.
 */
function lostOrderReplies(deps: ServiceDeps<typeof AllEvents>): LostOrderReplies {
  const lostReplies = new Counter({
    name: "ordersaga_orders_lost_replies_total",
    help: "Effect replies (reserved, charged, shipment prepared) for an order with no history, whose compensation was published",
    labelNames: ["event"],
    registers: [deps.metrics.registry],
  });
  const { redis, retention } = deps.platform;
  const outbox = redis
    ? redisLostReplyOutbox(redis, retention.markerTtlMs)
    : memoryLostReplyOutbox((message) => deps.platform.transport.publish([message]));
  return {
    outbox,
    onLost: (event, compensation, orderId, published) => {
      if (!published) {
        deps.logger.info({ orderId, event }, "lost order: compensation already published for this reply");
        return;
      }
      lostReplies.inc({ event });
      deps.logger.error(
        { orderId, event, compensation },
        "reply for an order with no history (lost with Redis's last writes): its effect is compensated",
      );
    },
  };
}

/** A repository over the stores that writes the read models inline (every writer must use one). */
function orderRepository(stores: OrderStores, options: OrderServiceOptions): OrderRepository {
  return new OrderRepository(stores.events, {
    cacheSize: options.cacheSize,
    inline: inlineProjections(stores),
  });
}

export function createOrderService(options: OrderServiceOptions = {}): ServiceDefinition<typeof AllEvents> {
  return {
    name: "order",
    version: PACKAGE_VERSION,
    create: async (deps) => {
      const internals = await buildInternals(deps, options);
      options.onCreated?.(internals);
      await refuseUnfinishedRebuilds(internals);
      const { stores, runner, sweeper, clock, tokens, compactor, shredding, shredSweeper } = internals;
      let viewRetention: NodeJS.Timeout | undefined;
      return {
        // Replies can arrive before the step they answer is recorded (ORDER_REPLY_TOO_EARLY) after a
        // restart with a backlog: give them room to be retried rather than dead-lettered.
        subscribers: [
          registerOrderHandlers(deps.subscriber({ retry: REPLY_RETRY }), runner, internals.lostReplies),
        ],
        routes: (app) =>
          registerOrderRoutes(app, {
            runner,
            repository: orderRepository(stores, options),
            views: stores.views,
            list: stores.list,
            publisher: deps.publisher,
            newOrderId: options.newOrderId ?? newMessageId,
            idempotency: stores.idempotency,
            tokens,
            ...(options.idempotencyTtlMs === undefined ? {} : { idempotencyTtlMs: options.idempotencyTtlMs }),
          }),
        start: async () => {
          viewRetention = startViewRetention(deps);
          sweeper.start({ intervalMs: options.sweepIntervalMs ?? 1_000 });
          // Intents a stopped or killed instance left are finished from here (issue 12).
          shredSweeper.start({ intervalMs: options.shredSweepIntervalMs ?? 5_000 });
          // Shreds a stopped instance left waiting for a rewrite are covered from here (break14 F3).
          compactor?.start();
        },
        stop: async () => {
          if (viewRetention) clearInterval(viewRetention);
          await sweeper.stop();
          await shredSweeper.stop();
          shredding.abort();
          compactor?.stop();
          await stores.close?.();
          clock.stop();
        },
      };
    },
  };
}

/** An order read model carries the marker of a rebuild that has not finished: it is partial. */
export class UnfinishedRebuildError extends Error {
  readonly code = "READ_MODEL_REBUILD_UNFINISHED";
  constructor(
    readonly readModel: string,
    readonly rebuild: string,
    /** The read model's name for `scripts/rebuild-read-model.ts`: views, deadlines, list. */
    which = "all",
  ) {
    super(
      `read model ${readModel}: a rebuild (${rebuild}) has not finished (interrupted, or still running): stop the whole system (every order instance; npm run start:services restarts a stopped child, so stop the launcher), run npx tsx scripts/rebuild-read-model.ts ${which} over this Redis (src/services/order/README.md, "Rebuilding a read model"), then start the system`,
    );
    this.name = "UnfinishedRebuildError";
  }
}

/**
 * A rebuild killed midway leaves its read model partial (in-flight orders without their deadline,
 * orders missing from `GET /orders`) and marked (break42 F1). An instance does not start over
 * such a read model: it cannot tell a dead rebuild from one still running, a catch-up beside a
 * running rebuild's clear is deleted by it, and a clear killed midway leaves any subset of the
 * list's keys, which only a full rebuild repairs (break43 F1, F2). Throws UnfinishedRebuildError.
 */
async function refuseUnfinishedRebuilds(internals: OrderServiceInternals): Promise<void> {
  const runners: [string, string, { unfinishedRebuild(): Promise<string | undefined> }][] = [
    [orderViewProjection.name, "views", internals.views],
    [deadlineProjection.name, "deadlines", internals.deadlines],
    [orderListProjection.name, "list", internals.list],
  ];
  for (const [readModel, which, runner] of runners) {
    const marker = await runner.unfinishedRebuild();
    if (marker !== undefined) throw new UnfinishedRebuildError(readModel, marker, which);
  }
}

/** With `ORDER_VIEW_RETENTION_MS` on Redis: a pass over 500 views every 10 s (view-retention.ts). */
function startViewRetention(deps: ServiceDeps<typeof AllEvents>): NodeJS.Timeout | undefined {
  const { redis, retention } = deps.platform;
  if (!redis || retention.orderViewRetentionMs === undefined) return undefined;
  const pruner = new ViewRetention({
    redis,
    key: readModelKey(ORDER_TAG, orderViewProjection.name),
    retentionMs: retention.orderViewRetentionMs,
    now: deps.now,
  });
  const timer = setInterval(() => {
    pruner.pass().catch((error: unknown) => deps.logger.warn({ err: error }, "order view retention failed"));
  }, 10_000);
  timer.unref();
  return timer;
}

/**
 * The order service as the system catalog and `main.ts` run it: the defaults, overridden by
 * `SAGA_STEP_TIMEOUT_MS`, `SAGA_COMPENSATION_WINDOW_MS` (checked against `CLAIM_IDLE_MS`) and
 * `ORDER_CACHE_SIZE`, `ORDER_IDEMPOTENCY_TTL_MS` (`orderConfigFromEnv`). Read when the service starts
 * (a `ConfigError` then fails that start, reported in one line), not on import.
 */
export const orderService: ServiceDefinition<typeof AllEvents> = configReadAtStart("order", () =>
  createOrderService(orderConfigFromEnv()),
);

const FAILED_STATUSES = new Set(["compensating", "failed", "cancelled", "compensation_failed"]);

/**
 * Step durations (a step's command to its reply or timeout, per attempt: the request time is its
 * deadline minus the step timeout) and compensations requested, settled and pending.
 */
const COMPENSATION_COMMAND = /^order\.compensation\.((?:inventory|payment|shipment)\.[a-z]+)$/;

/**
 * The compensation a command requests, labelled as its settlement is (`payment.refund`), or
 * undefined: `order.compensation.failed` and `.resolved` are the saga's own facts, not requests.
 */
export function compensationOf(event: string): string | undefined {
  return COMPENSATION_COMMAND.exec(event)?.[1];
}

function recordSagaProgress(metrics: Metrics, applied: AppliedDecision, stepTimeoutMs: number): void {
  const { before, after, input, decision, now } = applied;
  const step = before.awaiting;
  if (step !== undefined && before.deadline !== undefined) {
    if (after.awaiting !== step || after.deadline !== before.deadline) {
      const outcome =
        input.type === "timeout"
          ? "timed_out"
          : input.type === "cancel"
            ? "cancelled"
            : FAILED_STATUSES.has(after.status)
              ? "failed"
              : "ok";
      const requestedAt = before.deadline - stepTimeoutMs;
      metrics.sagaStepDuration.observe({ step, outcome }, Math.max(0, now - requestedAt) / 1_000);
    }
  }
  for (const command of decision.commands) {
    const compensation = compensationOf(command.event);
    if (compensation === undefined) continue;
    metrics.compensationsRequested.inc({ compensation });
  }
  if (input.type === "compensation.settled") {
    metrics.compensationsSettled.inc({ compensation: input.compensation, outcome: input.outcome });
  }
}
