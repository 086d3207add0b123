/**
 * The OpenTelemetry SDK, wired once at a process's start (`initTracing`). A no-op unless enabled:
 *
 * - `OTEL_SDK_DISABLED=true` turns it off whatever else is set;
 * - `TRACING_ENABLED=true|false` turns it on or off explicitly;
 * - otherwise it is on exactly when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 *   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set.
 *
 * Exporter (`OTEL_TRACES_EXPORTER`): `otlp` (OTLP over HTTP) is the default when an endpoint is
 * set, `none` otherwise; `console` prints spans. The OTLP body is JSON (`http/json`, the default
 * here) or protobuf with `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL=http/protobuf`; any other protocol
 * (`grpc`) throws a ConfigError (INVALID_CONFIG, one line) instead of exporting nothing. The other standard
 * variables are honoured by the SDK itself: OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
 * OTEL_TRACES_SAMPLER(_ARG), OTEL_PROPAGATORS, OTEL_BSP_*, OTEL_EXPORTER_OTLP_(TRACES_)HEADERS and
 * _TIMEOUT.
 */
import { OTLPTraceExporter as OTLPJsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OTLPProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { detectResources, envDetector, resourceFromAttributes } from "@opentelemetry/resources";
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanExporter,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { NodeTracerProvider } from "@opentelemetry/sdk-trace-node";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { z } from "zod";
import { type OtlpProtocol, parseEnv, tracingEnvShape } from "../runtime/config.js";
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
  /** The OTLP body's encoding when `exporter` is "otlp". */
  readonly protocol?: OtlpProtocol;
  /** Exports what is buffered. */
  flush(): Promise<void>;
  /**
   * Flushes and stops; call after the process's last span. Idempotent. Resolves within
   * TRACING_SHUTDOWN_TIMEOUT_MS (default 1.5 s) even when the collector does not answer.
   */
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

const protocolEnv = z.object({
  OTEL_EXPORTER_OTLP_PROTOCOL: tracingEnvShape.OTEL_EXPORTER_OTLP_PROTOCOL,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: tracingEnvShape.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
});

const shutdownEnv = z.object({ TRACING_SHUTDOWN_TIMEOUT_MS: tracingEnvShape.TRACING_SHUTDOWN_TIMEOUT_MS });

/** Default bound of `Tracing.shutdown()` (ms): `TRACING_SHUTDOWN_TIMEOUT_MS` overrides it. */
export const DEFAULT_TRACING_SHUTDOWN_TIMEOUT_MS = 1_500;

/** How long `shutdown()` waits for the last export (TRACING_SHUTDOWN_TIMEOUT_MS, default 1.5 s). */
export function tracingShutdownTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = parseEnv(shutdownEnv, env).TRACING_SHUTDOWN_TIMEOUT_MS;
  return typeof value === "number" ? value : DEFAULT_TRACING_SHUTDOWN_TIMEOUT_MS;
}

/** `work`, or undefined after `ms` (the work goes on in the background, unawaited). */
async function within(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  try {
    await Promise.race([work.catch(() => {}), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The OTLP protocol of the trace exporter: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
 * OTEL_EXPORTER_OTLP_PROTOCOL, else `http/json`. Throws ConfigError (one line, naming the variable
 * and the value) for anything but `http/json` and `http/protobuf`.
 */
export function otlpTraceProtocol(env: NodeJS.ProcessEnv = process.env): OtlpProtocol {
  const parsed = parseEnv(protocolEnv, env);
  return parsed.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL || parsed.OTEL_EXPORTER_OTLP_PROTOCOL || "http/json";
}

/**
 * Registers the SDK (tracer provider, AsyncLocalStorage context manager, W3C propagator) when the
 * environment asks for it. Once per process: a second call returns the first result (embedded mode
 * runs every service in one process, under one provider). Throws ConfigError for an unsupported
 * OTLP protocol (checked on every call, before anything is registered).
 */
export function initTracing(options: TracingOptions): Tracing {
  const env = options.env ?? process.env;
  const protocol = otlpTraceProtocol(env);
  const shutdownMs = tracingShutdownTimeoutMs(env);
  if (current) return current;
  if (!tracingWanted(env) && !options.spanProcessors?.length) {
    current = DISABLED;
    return current;
  }
  const hasEndpoint = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  const exporterName = (env.OTEL_TRACES_EXPORTER ?? (hasEndpoint ? "otlp" : "none")).split(",")[0]!.trim();
  const exporter: SpanExporter | undefined =
    exporterName === "otlp"
      ? protocol === "http/protobuf"
        ? new OTLPProtoTraceExporter()
        : new OTLPJsonTraceExporter()
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
    ...(exporterName === "otlp" ? { protocol } : {}),
    flush: () => provider.forceFlush(),
    // Bounded: a dead collector (each export waits up to OTEL_EXPORTER_OTLP_TIMEOUT, 10 s) must not
    // hold a graceful stop; spans not exported by then are lost, as on a crash.
    shutdown: () => (stopped ??= within(provider.shutdown(), shutdownMs)),
  };
  return current;
}
