import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { type DurationSummary, DurationWindow } from "./duration-window.js";
import { monotonicNow } from "../resilience/monotonic.js";

export type EventOutcome = "success" | "failure" | "dead_lettered";
export type SagaOutcome = "completed" | "failed" | "cancelled";
/** Same union as the resilience module's `CircuitState`, restated so the two modules stay independent. */
export type BreakerState = "CLOSED" | "OPEN" | "HALF_OPEN";

export interface BreakerChange {
  breaker: string;
  from: BreakerState;
  to: BreakerState;
  /** Epoch ms; the metrics clock when absent. */
  at?: number;
}

/** One subscribed stream as this service's consumer group sees it. */
export interface StreamGroupStats {
  topic: string;
  /**
   * Entries not yet read by the group (Redis `lag`); absent when Redis cannot tell (after some
   * XDELs / trims): then no sample is exported rather than a false 0.
   */
  lag?: number;
  /** Entries read and not yet acknowledged. */
  pending: number;
}

export interface HttpObservation {
  /** The route template (`/orders/:id`), never the raw URL, to keep label cardinality bounded. */
  route: string;
  method: string;
  status: number;
  durationMs: number;
}

/**
 * Default period of the event-loop delay sampler: a stall of 100 ms or more is always seen (its
 * delay in `nodejs_eventloop_lag_max_seconds`), a shorter one in proportion to its length; the
 * sampler costs ~0.3 ms of CPU per second instead of ~3.5 at prom-client's 10 ms.
 */
export const EVENT_LOOP_SAMPLE_MS = 100;

export interface MetricsOptions {
  service: string;
  /** Prefix of every metric name. */
  prefix?: string;
  /** Also collect Node process metrics (CPU, memory, event loop) into this registry. */
  defaultMetrics?: boolean;
  now?: () => number;
  /** Used only to sample durations once a window holds more than `maxSamplesPerWindow`. */
  random?: () => number;
  maxSamplesPerWindow?: number;
}

export interface EventWindowAggregate {
  event: string;
  outcome: EventOutcome;
  count: number;
  durationMs: DurationSummary;
}

export interface SagaWindowAggregate {
  outcome: SagaOutcome;
  count: number;
  durationMs: DurationSummary;
}

/** What happened between two drains (epoch ms bounds). */
export interface MetricsWindow {
  windowStart: number;
  windowEnd: number;
  events: EventWindowAggregate[];
  sagas: SagaWindowAggregate[];
}

const BREAKER_GAUGE: Record<BreakerState, number> = { CLOSED: 0, HALF_OPEN: 1, OPEN: 2 };
const EVENT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const SAGA_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * One service's metrics in its own prom-client registry (never the global one: in embedded mode
 * several services share a process, each labelled by `service`), plus rolling per-window
 * aggregates that the bus reporter drains and publishes as events.
 */
export class Metrics {
  readonly service: string;
  readonly registry = new Registry();
  readonly eventsProcessed: Counter<"event" | "outcome">;
  readonly eventDuration: Histogram<"event" | "outcome">;
  /** Messages dead-lettered unhandled because their signature or signer was wrong (docs/security.md). */
  readonly messagesRejected: Counter<"event" | "reason">;
  readonly breakerState: Gauge<"breaker">;
  readonly breakerTransitions: Counter<"breaker" | "to">;
  readonly sagaOutcomes: Counter<"outcome">;
  readonly sagaDuration: Histogram<"outcome">;
  readonly httpRequests: Counter<"route" | "method" | "status">;
  readonly httpDuration: Histogram<"route" | "method" | "status">;
  /** Entries of a subscribed stream not yet delivered to this service's group (XINFO GROUPS `lag`). */
  readonly consumerLag: Gauge<"topic">;
  /** Entries delivered to this service's group and not yet settled (XINFO GROUPS `pending`). */
  readonly consumerPending: Gauge<"topic">;
  readonly leaseRenewals: Counter<"topic">;
  readonly leaseTakeovers: Counter<"topic">;
  /**
   * Handler runs that ran maxLeaseMs without an outcome (hung), by `outcome`: `let_go` (slot freed,
   * the entry may run again) or `kept` (the let-go cap, MAX_HUNG_RUNS_LET_GO, reached: it keeps its slot).
   */
  readonly hungRuns: Counter<"topic" | "outcome">;
  readonly sagaStepDuration: Histogram<"step" | "outcome">;
  readonly compensationsRequested: Counter<"compensation">;
  readonly compensationsSettled: Counter<"compensation" | "outcome">;
  /** Steps of the shared (Redis `TIME`) clock a re-sync measured, by `direction` (clock.ts). */
  readonly clockSteps: Counter<"direction">;
  private streamProbe: (() => Promise<readonly StreamGroupStats[]>) | undefined;
  private probing: { at: number; result: Promise<readonly StreamGroupStats[]> } | undefined;
  private readonly now: () => number;
  private readonly newWindow: () => DurationWindow;
  private readonly breakerListeners = new Set<(change: Required<BreakerChange>) => void>();
  private windowStart: number;
  private eventWindows = new Map<string, { event: string; outcome: EventOutcome; window: DurationWindow }>();
  private sagaWindows = new Map<SagaOutcome, DurationWindow>();

  constructor(options: MetricsOptions) {
    this.service = options.service;
    this.now = options.now ?? Date.now;
    const random = options.random ?? Math.random;
    const capacity = options.maxSamplesPerWindow ?? 2_048;
    this.newWindow = () => new DurationWindow(capacity, random);
    this.windowStart = this.now();
    this.registry.setDefaultLabels({ service: options.service });
    const p = options.prefix ?? "ordersaga_";
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
      new Counter<L>({ name: `${p}${name}`, help, labelNames, registers });
    const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
      new Histogram<L>({ name: `${p}${name}`, help, labelNames, buckets, registers });
    const eventLabels: ("event" | "outcome")[] = ["event", "outcome"];
    const httpLabels: ("route" | "method" | "status")[] = ["route", "method", "status"];
    this.eventsProcessed = counter("events_processed_total", "Events handled, by outcome", eventLabels);
    this.eventDuration = histogram(
      "event_duration_seconds",
      "Event handling time",
      eventLabels,
      EVENT_BUCKETS,
    );
    this.messagesRejected = counter(
      "bus_messages_rejected_total",
      "Messages rejected before handling: reason SIGNATURE_INVALID, WRONG_PRODUCER, TOO_OLD_TO_DEDUPLICATE or MESSAGE_TOO_LARGE",
      ["event", "reason"],
    );
    this.breakerState = new Gauge({
      name: `${p}circuit_breaker_state`,
      help: "Circuit breaker state: 0 closed, 1 half-open, 2 open",
      labelNames: ["breaker"],
      registers,
    });
    this.breakerTransitions = counter("circuit_breaker_transitions_total", "Breaker state changes", [
      "breaker",
      "to",
    ]);
    this.sagaOutcomes = counter("sagas_total", "Sagas that reached a terminal state", ["outcome"]);
    this.sagaDuration = histogram(
      "saga_duration_seconds",
      "Time from order placed to terminal state",
      ["outcome"],
      SAGA_BUCKETS,
    );
    this.httpRequests = counter("http_requests_total", "HTTP requests served", httpLabels);
    this.httpDuration = histogram(
      "http_request_duration_seconds",
      "HTTP handling time",
      httpLabels,
      HTTP_BUCKETS,
    );
    // Read at scrape time, once for both gauges (a second scrape within 1 s reuses the answer).
    const probe = async (): Promise<readonly StreamGroupStats[]> => {
      if (!this.streamProbe) return [];
      // A local duration: on the monotonic source, so a wall-clock step cannot pin a stale answer.
      const at = monotonicNow();
      if (!this.probing || at - this.probing.at > 1_000)
        this.probing = { at, result: this.streamProbe().catch(() => []) };
      return this.probing.result;
    };
    const streamGauge = (name: string, help: string, field: "lag" | "pending") =>
      new Gauge<"topic">({
        name: `${p}${name}`,
        help,
        labelNames: ["topic"],
        registers,
        async collect() {
          const stats = await probe();
          this.reset();
          for (const s of stats) {
            const value = s[field];
            if (value !== undefined) this.set({ topic: s.topic }, value);
          }
        },
      });
    this.consumerLag = streamGauge(
      "consumer_lag_messages",
      "Entries of a subscribed stream not yet read by this service's consumer group",
      "lag",
    );
    this.consumerPending = streamGauge(
      "consumer_pending_messages",
      "Entries read by this service's consumer group and not yet acknowledged",
      "pending",
    );
    this.leaseRenewals = counter("lease_renewals_total", "Leases of in-flight messages renewed", ["topic"]);
    this.leaseTakeovers = counter(
      "lease_takeovers_total",
      "Messages taken over from a consumer that stopped renewing (died or hung)",
      ["topic"],
    );
    this.hungRuns = counter(
      "hung_runs_total",
      "Handler runs that ran maxLeaseMs without an outcome: let_go freed their slot, kept reached the let-go cap",
      ["topic", "outcome"],
    );
    this.sagaStepDuration = histogram(
      "saga_step_duration_seconds",
      "Time from a saga step's command to its reply (or timeout), per attempt",
      ["step", "outcome"],
      SAGA_BUCKETS,
    );
    this.compensationsRequested = counter("saga_compensations_requested_total", "Compensations sent", [
      "compensation",
    ]);
    this.compensationsSettled = counter(
      "saga_compensations_settled_total",
      "Compensation replies: done, or refused",
      ["compensation", "outcome"],
    );
    this.clockSteps = counter(
      "clock_steps_total",
      "Steps of the shared Redis-time clock (Redis's clock stepped, or a failover to a server whose clock differs), larger than 1 s plus the measurement error: followed, both ways",
      ["direction"],
    );
    // Rare and alerted on by increase(): created at 0 (a series born at its first step shows none).
    for (const direction of ["forward", "backward"]) this.clockSteps.inc({ direction }, 0);
    if (options.defaultMetrics)
      collectDefaultMetrics({
        register: this.registry,
        prefix: p,
        eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS,
      });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Creates at 0 the series that are rare and alerted on by `increase()`
   * (`events_processed_total{outcome="dead_lettered"}` per handled event, lease renewals and
   * takeovers per topic): a counter series born at its first increment shows no increase for that
   * first dead letter or takeover (break13 F3). Called once the subscribed events are known.
   */
  initialiseSeries(handled: readonly string[]): void {
    for (const event of handled) this.eventsProcessed.inc({ event, outcome: "dead_lettered" }, 0);
    for (const topic of handled) {
      this.leaseRenewals.inc({ topic }, 0);
      this.leaseTakeovers.inc({ topic }, 0);
      for (const outcome of ["let_go", "kept"]) this.hungRuns.inc({ topic, outcome }, 0);
    }
  }

  /**
   * Counts a consumer's lease activity on `topic` (the Streams transport's LeaseActivity): `count`
   * leases renewed or entries taken over, or runs found hung (ran maxLeaseMs), let go or kept.
   */
  recordLeaseActivity(
    kind: "renewed" | "taken_over" | "hung_let_go" | "hung_kept",
    topic: string,
    count: number,
  ): void {
    if (kind === "renewed") this.leaseRenewals.inc({ topic }, count);
    else if (kind === "taken_over") this.leaseTakeovers.inc({ topic }, count);
    else this.hungRuns.inc({ topic, outcome: kind === "hung_let_go" ? "let_go" : "kept" }, count);
  }

  recordEvent(event: string, outcome: EventOutcome, durationMs: number): void {
    this.eventsProcessed.inc({ event, outcome });
    this.eventDuration.observe({ event, outcome }, seconds(durationMs));
    const key = `${event}\u0000${outcome}`;
    let entry = this.eventWindows.get(key);
    if (!entry) {
      entry = { event, outcome, window: this.newWindow() };
      this.eventWindows.set(key, entry);
    }
    entry.window.add(durationMs);
  }

  recordSaga(outcome: SagaOutcome, durationMs: number): void {
    this.sagaOutcomes.inc({ outcome });
    this.sagaDuration.observe({ outcome }, seconds(durationMs));
    let window = this.sagaWindows.get(outcome);
    if (!window) {
      window = this.newWindow();
      this.sagaWindows.set(outcome, window);
    }
    window.add(durationMs);
  }

  /** Shape-compatible with the circuit breaker's `onStateChange`, so it can be passed directly. */
  recordBreakerChange(change: BreakerChange): void {
    this.breakerState.set({ breaker: change.breaker }, BREAKER_GAUGE[change.to]);
    this.breakerTransitions.inc({ breaker: change.breaker, to: change.to });
    const full = { ...change, at: change.at ?? this.now() };
    for (const listener of [...this.breakerListeners]) listener(full);
  }

  /**
   * Removes every label set of a breaker that is gone (an instance no longer registered). Breaker
   * labels are the only ones keyed by instance id: without this, each restart would add label sets
   * for good. The bound: label sets of live breakers only.
   */
  forgetBreaker(breaker: string): void {
    this.breakerState.remove({ breaker });
    for (const to of Object.keys(BREAKER_GAUGE) as BreakerState[])
      this.breakerTransitions.remove({ breaker, to });
  }

  /** Exposes a breaker's gauge before its first change (a healthy breaker never changes). */
  trackBreaker(breaker: string, state: BreakerState = "CLOSED"): void {
    this.breakerState.set({ breaker }, BREAKER_GAUGE[state]);
  }

  recordHttp(observation: HttpObservation): void {
    const labels = {
      route: observation.route,
      method: observation.method.toUpperCase(),
      status: String(observation.status),
    };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds(observation.durationMs));
  }

  /** Where the consumer lag and pending gauges read from at scrape time (the service host sets it). */
  setStreamProbe(probe: () => Promise<readonly StreamGroupStats[]>): void {
    this.streamProbe = probe;
  }

  /** Listen to breaker changes as they are recorded; returns the unsubscribe function. */
  onBreakerChange(listener: (change: Required<BreakerChange>) => void): () => void {
    this.breakerListeners.add(listener);
    return () => {
      this.breakerListeners.delete(listener);
    };
  }

  /** Prometheus text exposition of this service's registry. */
  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  /** Returns the aggregates since the previous drain and starts a new window. One reader per instance. */
  drainWindow(at: number = this.now()): MetricsWindow {
    const events = [...this.eventWindows.values()].map(({ event, outcome, window }) => ({
      event,
      outcome,
      count: window.count,
      durationMs: window.summary(),
    }));
    const sagas = [...this.sagaWindows].map(([outcome, window]) => ({
      outcome,
      count: window.count,
      durationMs: window.summary(),
    }));
    const drained = {
      windowStart: this.windowStart,
      windowEnd: Math.max(at, this.windowStart),
      events,
      sagas,
    };
    this.windowStart = drained.windowEnd;
    this.eventWindows = new Map();
    this.sagaWindows = new Map();
    return drained;
  }
}

function seconds(durationMs: number): number {
  return Number.isFinite(durationMs) && durationMs > 0 ? durationMs / 1_000 : 0;
}
