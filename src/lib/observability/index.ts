/**
 * Observability: structured JSON logging with redaction and correlation ids, per-service
 * Prometheus metrics, and a reporter that publishes windowed `metrics.*` events on the bus.
 */
export { type DurationSummary, DurationWindow, percentile } from "./duration-window.js";
export {
  createLogger,
  formatPretty,
  type Logger,
  LoggerConfigError,
  type LoggerOptions,
  prettyStream,
  REDACTED,
  redactPaths,
  SECRET_FIELDS,
  withCorrelation,
} from "./logger.js";
export {
  type BreakerChange,
  type BreakerState,
  type EventOutcome,
  type EventWindowAggregate,
  type HttpObservation,
  Metrics,
  type MetricsOptions,
  type MetricsWindow,
  type SagaOutcome,
  type SagaWindowAggregate,
} from "./metrics.js";
export {
  type MetricsEventName,
  type MetricsEventPayloads,
  type MetricsMessage,
  type MetricsPublish,
  type MetricsReporter,
  type MetricsReporterOptions,
  startMetricsReporter,
} from "./metrics-reporter.js";
