/**
 * The OpenTelemetry SDK, wired once at a process's start (`initTracing`). A no-op unless enabled:
 *
 * - `OTEL_SDK_DISABLED=true` turns it off whatever else is set;
 * - `TRACING_ENABLED=true|false` turns it on or off explicitly;
 * - otherwise it is on exactly when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 *   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
 *
 * Exporter (`OTEL_TRACES_EXPORTER`): `otlp` (OTLP over HTTP, JSON body: the `http/json` protocol) is
 * the default when an endpoint is set, `none` otherwise; `console` prints spans. The other standard
 * variables are honoured by the SDK itself: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_PROPAGATORS, OTEL_BSP_*, OTEL_EXPORTER_OTLP_(TRACES_)HEADERS and
 * _TIMEOUT.
 */
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { markTracingEnabled } from "./spans.js";

export interface TracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise. */
  service: string;
  /** `service.instance.id`. */
  instance?: string;
  version?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra processors (tests: an in-memory exporter). */
  spanProcessors?: SpanProcessor[];
}

export interface Tracing {
  readonly enabled: boolean;
  /** "otlp", "console" or "none". */
  readonly exporter: string;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  /** Flushes and stops; call after the process's last span. Idempotent. */
  shutdown(): Promise<void>;
}

const DISABLED: Tracing = {
  enabled: false,
  exporter: "none",
  flush: async () => {},
  shutdown: async () => {},
};

let current: Tracing | undefined;

/** Whether the environment asks for tracing (see the module comment for the rule). */
export function tracingWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.toLowerCase() === "true") return false;
  const explicit = env.TRACING_ENABLED?.toLowerCase();
  if (explicit === "true" || explicit === "1") return true;
  if (explicit === "false" || explicit === "0") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Registers the SDK (tracer provider, AsyncLocalStorage context manager, W3C propagator) when the
 * environment asks for it. Once per process: a second call returns the first result (embedded mode
 * runs every service in one process, under one provider).
 */
export function initTracing(options: TracingOptions): Tracing {
  if (current) return current;
  const env = options.env ?? process.env;
  if (!tracingWanted(env) && !options.spanProcessors?.length) {
    current = DISABLED;
    return current;
  }
  const hasEndpoint = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const exporterName = (env.OTEL_TRACES_EXPORTER ?? (hasEndpoint ? "otlp" : "none")).split(",")[0]!.trim();
  const exporter: SpanExporter | undefined =
    exporterName === "otlp"
      ? new OTLPTraceExporter()
      : exporterName === "console"
        ? new ConsoleSpanExporter()
        : undefined;
  const own = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.service,
    ...(options.instance ? { "service.instance.id": options.instance } : {}),
    ...(options.version ? { [ATTR_SERVICE_VERSION]: options.version } : {}),
  });
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over the defaults above.
  const resource = own.merge(detectResources({ detectors: [envDetector] }));
  const provider = new NodeTracerProvider({
    resource,
    spanProcessors: [
      ...(exporter ? [new BatchSpanProcessor(exporter)] : []),
      ...(options.spanProcessors ?? []),
    ],
  });
  provider.register();
  markTracingEnabled(true);
  let stopped: Promise<void> | undefined;
  current = {
    enabled: true,
    exporter: exporter ? exporterName : "none",
    flush: () => provider.forceFlush(),
    shutdown: () => (stopped ??= provider.shutdown().catch(() => {})),
  };
  return current;
}
