/**
 * One SERVER span per HTTP request, with Fastify hooks (no monkey-patching of `node:http`): started
 * in `onRequest` as a child of the caller's W3C `traceparent` header (`incoming: "parent"`, the
 * services, called only by the gateway) or as a new root that keeps a valid caller context as a
 * span link only (`incoming: "link"`, the gateway: the public edge does not let a client pick the
 * trace or switch sampling off, docs/security.md), active while the route
 * handler runs (so its log lines, Redis writes and messages join the trace), ended in `onResponse`
 * with the status. Attributes follow the HTTP semantic conventions. Probes (`/health*`, `/metrics`)
 * are not traced: a scrape every few seconds would bury the traces that matter.
 */
import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from "@opentelemetry/semantic-conventions";
import type { FastifyInstance, FastifyRequest, RouteHandlerMethod } from "fastify";
import { tracer } from "../observability/spans.js";

const UNTRACED = /^\/(health|metrics)(\/|$)/;

/**
 * What a request's W3C trace context becomes: the server span's parent (`parent`), or only a link
 * from a new root span (`link`: an untrusted caller, the default at the gateway).
 */
export type IncomingTraceContext = "parent" | "link";

export function installServerSpans(app: FastifyInstance, incoming: IncomingTraceContext = "parent"): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook("onRequest", (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route === undefined || UNTRACED.test(route)) return done();
    const callers = propagation.extract(ROOT_CONTEXT, request.headers);
    const parent = incoming === "parent" ? callers : ROOT_CONTEXT;
    const callerSpan = incoming === "link" ? trace.getSpanContext(callers) : undefined;
    const links =
      callerSpan && isSpanContextValid(callerSpan)
        ? [{ context: callerSpan, attributes: { "ordersaga.link.source": "client traceparent" } }]
        : undefined;
    const span = tracer().startSpan(
      `${request.method} ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          [ATTR_HTTP_ROUTE]: route,
          [ATTR_URL_PATH]: request.url.split("?")[0] ?? "/",
          [ATTR_URL_SCHEME]: "http",
        },
        ...(links ? { links } : {}),
      },
      parent,
    );
    spans.set(request, span);
    context.with(trace.setSpan(parent, span), done);
  });
  // The body is parsed between onRequest and the handler, on stream events that do not keep the
  // async context: the handler is re-entered in the span's context explicitly.
  app.addHook("onRoute", (route) => {
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function (this: FastifyInstance, request, reply) {
      const span = spans.get(request);
      if (!span) return handler.call(this, request, reply);
      return context.with(trace.setSpan(context.active(), span), () => handler.call(this, request, reply));
    } as RouteHandlerMethod;
  });
  app.addHook("onError", async (request, _reply, error) => {
    spans.get(request)?.recordException(error);
  });
  app.addHook("onResponse", async (request, reply) => {
    const span = spans.get(request);
    if (!span) return;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, reply.statusCode);
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    spans.delete(request);
  });
}
