import type { DurationSummary } from "./duration-window.js";
import type { BreakerChange, BreakerState, EventOutcome, Metrics, SagaOutcome } from "./metrics.js";

interface WindowFields {
  count: number;
  durationMs: DurationSummary;
  /** ISO-8601. */
  windowStart: string;
  windowEnd: string;
}

/** Payloads of the `metrics.*` events, matching the contracts in `src/contracts/metrics.ts`. */
export interface MetricsEventPayloads {
  "metrics.event.processed": WindowFields & { service: string; event: string; outcome: EventOutcome };
  "metrics.circuit.breaker.state": {
    service: string;
    breaker: string;
    from: BreakerState;
    to: BreakerState;
    at: string;
  };
  "metrics.saga.completed": WindowFields & { service: string; outcome: SagaOutcome };
}

export type MetricsEventName = keyof MetricsEventPayloads;

/** One `metrics.*` event as a correlated (name, payload) pair. */
export type MetricsMessage = {
  [K in MetricsEventName]: [event: K, payload: MetricsEventPayloads[K]];
}[MetricsEventName];

/** Usually `(name, payload) => publisher.publish(name, payload)`; may be async. */
export type MetricsPublish = (...message: MetricsMessage) => unknown;

export interface MetricsReporterOptions {
  metrics: Metrics;
  /** Defaults to `metrics.service`. */
  service?: string;
  intervalMs?: number;
  publish: MetricsPublish;
  now?: () => number;
  /** Metrics are best effort: a failed publish is reported here and not retried. */
  onError?: (error: unknown, event: MetricsEventName) => void;
}

export interface MetricsReporter {
  /** Publishes the current window now (nothing when it is empty) and starts a new one. */
  flush(): Promise<void>;
  /** Stops the timer and breaker forwarding, then flushes the last window. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Publishes one aggregated event per (event, outcome) and per saga outcome every interval, so
 * metrics traffic does not grow with load; breaker changes are rare and go out as they happen.
 */
export function startMetricsReporter(options: MetricsReporterOptions): MetricsReporter {
  const { metrics, publish } = options;
  const service = options.service ?? metrics.service;
  const now = options.now ?? Date.now;
  const onError = options.onError ?? (() => {});

  const send = (...message: MetricsMessage): Promise<void> =>
    Promise.resolve()
      .then(() => publish(...message))
      .then(
        () => undefined,
        (error: unknown) => onError(error, message[0]),
      );

  const flush = async (): Promise<void> => {
    const window = metrics.drainWindow(now());
    const bounds = { windowStart: iso(window.windowStart), windowEnd: iso(window.windowEnd) };
    await Promise.all([
      ...window.events.map((e) => send("metrics.event.processed", { service, ...e, ...bounds })),
      ...window.sagas.map((s) => send("metrics.saga.completed", { service, ...s, ...bounds })),
    ]);
  };

  const unsubscribe = metrics.onBreakerChange((change: Required<BreakerChange>) => {
    const { breaker, from, to, at } = change;
    void send("metrics.circuit.breaker.state", { service, breaker, from, to, at: iso(at) });
  });
  const timer = setInterval(() => void flush(), options.intervalMs ?? 10_000);
  // The reporter must never be the reason a process stays alive.
  timer.unref();

  let stopped: Promise<void> | undefined;
  return {
    flush,
    stop(): Promise<void> {
      if (!stopped) {
        clearInterval(timer);
        unsubscribe();
        stopped = flush();
      }
      return stopped;
    },
  };
}

function iso(epochMs: number): string {
  return new Date(epochMs).toISOString();
}
