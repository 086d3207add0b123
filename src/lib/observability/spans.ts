/**
 * Tracing through the OpenTelemetry API only (no SDK here): spans, W3C context in and out of
 * envelopes and headers, and the ids a log line carries. Without an SDK registered (tracing off,
 * the default) every call here is the API's no-op and costs next to nothing; `tracing.ts` wires the
 * SDK at a process's start.
 */
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import { parseTraceparent } from "../bus/traceparent.js";

export { SpanKind } from "@opentelemetry/api";

/** Instrumentation scope of every span the project creates. */
export const TRACER_NAME = "ordersaga";

let tracingOn = false;

/** Set by `initTracing` when an SDK is registered; spans are created only then. */
export function markTracingEnabled(enabled: boolean): void {
  tracingOn = enabled;
}

/** Whether spans are being recorded in this process (an SDK is registered). */
export function tracingEnabled(): boolean {
  return tracingOn;
}

export function tracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Messaging attribute names (OpenTelemetry semantic conventions, messaging spans). They are still
 * "incubating" upstream, so they are restated here rather than imported from the unstable entry.
 */
export const MESSAGING = {
  system: "messaging.system",
  destination: "messaging.destination.name",
  operationName: "messaging.operation.name",
  operationType: "messaging.operation.type",
  // The older single attribute; Jaeger and many dashboards still group by it.
  operation: "messaging.operation",
  messageId: "messaging.message.id",
  conversationId: "messaging.message.conversation_id",
  consumerGroup: "messaging.consumer.group.name",
  deliveryCount: "messaging.redis.delivery_attempt",
} as const;

/**
 * Attribute of a request's SERVER span holding the client's `x-correlation-id`, when sane: kept
 * beside the trace, never adopted as the saga's correlation id (break35 F5).
 */
export const CLIENT_CORRELATION_ATTRIBUTE = "ordersaga.client.correlation_id";

/** Sets `name` on the active span (none while tracing is off: nothing to do). */
export function setActiveSpanAttribute(name: string, value: string): void {
  trace.getActiveSpan()?.setAttribute(name, value);
}

/** The fields a log line carries while a span is active: `{ trace_id, span_id }`, or none. */
export function activeTraceFields(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** The W3C `traceparent` of a span (`00-<trace>-<span>-<flags>`). */
export function traceparentOf(span: Span): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, "0")}`;
}

/**
 * The context a W3C `traceparent` (from an envelope or a header) names, under ROOT; ROOT itself
 * (a fresh trace) unless the one strict parser (lib/bus/traceparent.ts) takes it, so every reader
 * agrees on what is a trace: OpenTelemetry's own would also take other versions, trailing fields
 * and surrounding spaces.
 */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  if (!parseTraceparent(traceparent)) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** The active context's propagation headers (`traceparent`, `tracestate`), for an outgoing call. */
export function injectHeaders(into: Record<string, string>, ctx: Context = context.active()): void {
  propagation.inject(ctx, into);
}

/**
 * Runs `fn` inside a new span (a child of the active one) and ends it when `fn` settles; a throw
 * marks the span as an error and is rethrown. With `needParent`, no span is made without an active
 * one (background loops stay out of traces). When tracing is off it just runs `fn`.
 */
export async function withSpan<T>(
  name: string,
  options: { kind?: SpanKind; attributes?: Attributes; needParent?: boolean },
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!tracingOn || (options.needParent && !trace.getActiveSpan())) return fn(undefined);
  return tracer().startActiveSpan(
    name,
    {
      kind: options.kind ?? SpanKind.INTERNAL,
      ...(options.attributes ? { attributes: options.attributes } : {}),
    },
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        failSpan(span, error);
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/**
 * Runs `fn` inside a new span whose parent is a stored W3C `traceparent`: timer-driven work (a
 * scheduled delivery, a deadline) continuing the trace of the request or message that scheduled it,
 * with the span active so what `fn` publishes joins that trace too. No span (just `fn(undefined)`)
 * while tracing is off or when nothing was stored (work scheduled before tracing was on).
 */
export async function withSpanFromTraceparent<T>(
  name: string,
  traceparent: string | undefined,
  options: { kind?: SpanKind; attributes?: Attributes },
  fn: (span: Span | undefined) => Promise<T>,
): Promise<T> {
  if (!tracingOn || !traceparent) return fn(undefined);
  const parent = contextFromTraceparent(traceparent);
  if (!trace.getSpanContext(parent)) return fn(undefined);
  return context.with(parent, () => withSpan(name, options, fn));
}

/**
 * Runs `fn` (synchronously) inside an INTERNAL span `name` whose parent is a stored W3C `traceparent`
 * (an order's trace), with a link to the span active now (the request that asked for the work): what
 * `fn` prepares to publish joins the stored trace, and the request's own trace is one link away
 * (break35 F6: a cancel's compensations were in the cancel request's trace, not the order's).
 * Just `fn()` while tracing is off, when nothing valid was stored, or when the active span is
 * already in the stored trace (a deadline sweep runs under it).
 */
export function inStoredTrace<T>(
  name: string,
  traceparent: string | undefined,
  attributes: Attributes,
  fn: () => T,
): T {
  if (!tracingOn || !traceparent) return fn();
  const parent = contextFromTraceparent(traceparent);
  const stored = trace.getSpanContext(parent);
  if (!stored) return fn();
  const active = trace.getActiveSpan()?.spanContext();
  if (active?.traceId === stored.traceId) return fn();
  const links = active && trace.isSpanContextValid(active) ? [{ context: active }] : [];
  const span = tracer().startSpan(name, { kind: SpanKind.INTERNAL, attributes, links }, parent);
  try {
    return context.with(trace.setSpan(parent, span), fn);
  } catch (error) {
    failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Records an error on a span and marks it failed. */
export function failSpan(span: Span, error: unknown): void {
  if (error instanceof Error) span.recordException(error);
  span.setStatus({
    code: SpanStatusCode.ERROR,
    message: error instanceof Error ? error.message : String(error),
  });
}

/**
 * A CLIENT span around a call to an external provider (`<provider> <operation>`, e.g.
 * `payment-provider charge`), with `peer.service` naming it; only inside a traced request or message.
 */
export function providerSpan<T>(
  provider: string,
  operation: string,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  return withSpan(
    `${provider} ${operation}`,
    {
      kind: SpanKind.CLIENT,
      needParent: true,
      attributes: { "peer.service": provider, "ordersaga.provider.operation": operation, ...attributes },
    },
    fn,
  );
}

/** `{ traceparent }` of the active span, or `{}` when none (tracing off, or outside any span). */
export function activeTraceparent(): { traceparent?: string } {
  const span = trace.getActiveSpan();
  return span ? { traceparent: traceparentOf(span) } : {};
}
