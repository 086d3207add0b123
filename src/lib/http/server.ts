import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from "fastify";
import type { z } from "zod";
import { parseTraceparent } from "../bus/traceparent.js";
import { activeTraceFields, tracingEnabled } from "../observability/spans.js";
import { type IncomingTraceContext, installServerSpans } from "./tracing.js";
import { decodeJsonBody } from "./body-text.js";
import { installDrain } from "./drain.js";
import { AppError, errorBody, knownStatus, statusForCode, toIssues, validationFailed } from "./errors.js";
import { LogThrottle } from "./log-throttle.js";
import { isOutOfMemory } from "../redis/out-of-memory.js";

export interface HttpServerOptions {
  /** Largest accepted request body in bytes (default 64 KiB): larger ones get 413. */
  bodyLimit?: number;
  /** A pino logger for request logs; none by default (services log their own lines). */
  logger?: FastifyServerOptions["loggerInstance"];
  /**
   * Where a 500 is logged (a service's or the gateway's own logger): the error with the request's
   * correlation id, request id, method and route template, trace ids when traced; never a body or
   * header value. Without it (and without `logger`) a 500 would go unlogged (break10 F2). A 503 (no
   * instance up, Redis away: answered with Retry-After) is expected and retryable: logged at `warn`
   * without a stack, at most once per {@link UNAVAILABLE_LOG_INTERVAL_MS} per code and service.
   */
  errorLog?: { error(fields: object, message: string): void; warn?(fields: object, message: string): void };
  /** One SERVER span per request (W3C `traceparent` honoured); default: when tracing is on. */
  tracing?: boolean;
  /**
   * What a request's `traceparent` becomes: the server span's parent (default: the services, whose
   * only caller is the gateway) or a link from a new root (`link`: the gateway, the public edge).
   */
  incomingTrace?: IncomingTraceContext;
  /** Where each response is counted and timed, by route template (not raw URL: bounded labels). */
  metrics?: {
    recordHttp(observation: { route: string; method: string; status: number; durationMs: number }): void;
  };
  /**
   * Milliseconds from a request's first byte until its headers and body must all have arrived
   * (default {@link REQUEST_TIMEOUT_MS}); past it the client gets 408 `REQUEST_TIMEOUT` and the socket
   * is closed. Tests pass a short one.
   */
  requestTimeoutMs?: number;
  /**
   * Peers whose X-Forwarded-For (and -Host, -Proto) is believed, as Fastify's `trustProxy`: IP
   * addresses, CIDRs or proxy-addr's named ranges. Default none: `request.ip` is the TCP peer's. Only
   * the gateway sets it (GATEWAY_TRUST_PROXY); a service's one caller is the gateway.
   */
  trustProxy?: readonly string[];
  /**
   * Milliseconds a kept-alive socket may stay idle before the server closes it (Fastify's default
   * 72 000: the services, whose one caller, the gateway, closes its pooled sockets after 10 s, so it
   * never writes onto one the service is closing). The gateway's public port sets a short one.
   */
  keepAliveTimeoutMs?: number;
}

/**
 * Default time for a whole request (headers and body) to arrive: 30 s. Fastify's default is 0 (no
 * limit), under which a client that stops mid-body holds its socket and fd forever (newuser8 M1).
 * It is a deadline on the whole receive, not an idle timeout: a steady but slow upload is cut too
 * (break10 F2: 40 KB at 1 KB/s got 408 at 30 s). A body must arrive at 2.2 KB/s (about 17.5 kbit/s)
 * on average to fit the 64 KiB limit in it; Node checks it every `connectionsCheckingInterval`, so
 * the cut lands up to 5 s late. No idle timeout between body chunks instead: Node's parser reads
 * the socket natively (no per-chunk hook), and the socket's own idle timeout would also cut a
 * request still waiting for a slow handler's answer.
 */
export const REQUEST_TIMEOUT_MS = 30_000;

interface FastifyishError {
  statusCode?: number;
  code?: string;
  message: string;
  validation?: unknown;
}

/** Maps any thrown error to the one error shape; never leaks a stack trace. */
function toResponse(error: unknown): {
  status: number;
  body: ReturnType<typeof errorBody>;
  retryAfter?: number;
} {
  if (error instanceof AppError) {
    const status = statusForCode(error.code);
    return {
      status,
      body: errorBody(error.code, error.message, error.details),
      ...(status === 503 ? { retryAfter: 1 } : {}),
    };
  }
  const e = error as FastifyishError;
  // A library's typed error (DLQ_NOT_FOUND, CONCURRENCY_CONFLICT...) maps by its code, unwrapped.
  const known = error instanceof Error && typeof e.code === "string" ? knownStatus(e.code) : undefined;
  if (known !== undefined) {
    return {
      status: known,
      body: errorBody(e.code!, e.message),
      ...(known === 503 ? { retryAfter: 1 } : {}),
    };
  }
  if (isOutOfMemory(error)) {
    return {
      status: 503,
      body: errorBody(
        "STORE_OUT_OF_MEMORY",
        "The store is out of memory and refuses writes; nothing was written. Retry later",
      ),
      retryAfter: 1,
    };
  }
  if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE")
    return { status: 413, body: errorBody("PAYLOAD_TOO_LARGE", "Request body is too large") };
  if (e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return {
      status: 415,
      body: errorBody("UNSUPPORTED_MEDIA_TYPE", "Send JSON with Content-Type: application/json"),
    };
  }
  if (
    e.statusCode === 400 ||
    e.code === "FST_ERR_CTP_EMPTY_JSON_BODY" ||
    e.code === "FST_ERR_CTP_INVALID_JSON_BODY"
  ) {
    return { status: 400, body: errorBody("MALFORMED_JSON", `Malformed request body: ${e.message}`) };
  }
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    return { status: e.statusCode, body: errorBody("BAD_REQUEST", e.message) };
  }
  return { status: 500, body: errorBody("INTERNAL", "Internal server error") };
}

/**
 * Per socket, the requests Node has handed to the server whose response has not ended yet (Node
 * emits one per pipelined request as soon as it is parsed and answers them in order).
 */
const openRequests = new WeakMap<Duplex, Set<IncomingMessage>>();

/**
 * Forgets a request once its response closed (`this`: the response). One function for every
 * response, added with `on` (a response closes once): no closure nor `once` wrapper per request,
 * and a socket's set is stored once, not again per request (measured: ~0.2 µs and ~50 B of garbage a
 * request instead of ~0.7 µs and ~470 B).
 */
function forgetRequest(this: ServerResponse): void {
  openRequests.get(this.req.socket)?.delete(this.req);
}

function trackOpenRequests(server: Server): void {
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (response.closed) return;
    const socket = request.socket;
    let open = openRequests.get(socket);
    if (open === undefined) openRequests.set(socket, (open = new Set<IncomingMessage>()));
    open.add(request);
    response.on("close", forgetRequest);
  });
}

/**
 * Whether an answer is owed on this socket to a request received whole: anything written now
 * would be read as that answer (break10 F3: a pipelined request's 408 read as an earlier applied
 * request's answer).
 */
const answerOwed = (socket: Duplex): boolean =>
  [...(openRequests.get(socket) ?? [])].some((request) => request.complete);

/**
 * Answers a client error of the HTTP parser on the raw socket (no request object exists yet); when
 * an earlier request on it still awaits its answer, only closes it: the client then sees that
 * request's outcome as unknown, never another request's error in its place.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  if (answerOwed(socket)) {
    socket.destroy(error);
    return;
  }
  const [status, reason, body] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? [
          431,
          "Request Header Fields Too Large",
          errorBody(
            "HEADERS_TOO_LARGE",
            "The request line and headers are over 16 KiB: shorten the query string or headers",
          ),
        ]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [
            408,
            "Request Timeout",
            errorBody("REQUEST_TIMEOUT", "The request was not received completely in time"),
          ]
        : [400, "Bad Request", errorBody("BAD_REQUEST", "Malformed HTTP request")];
  const json = JSON.stringify(body);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
        `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${json}`,
    );
  }
  socket.destroy(error);
}

/** Longest path parameter (one segment such as an id) in characters: longer is 414 URI_TOO_LONG. */
export const MAX_PATH_SEGMENT_LENGTH = 1_000;

/** A Fastify server with JSON errors in one shape, a body limit and prototype-poisoning protection. */
export function createHttpServer(options: HttpServerOptions = {}): FastifyInstance {
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const app = Fastify({
    // Node checks the deadlines only every `connectionsCheckingInterval` (default 30 s, which would
    // double a 30 s timeout); headers alone get no longer than the whole request.
    requestTimeout,
    ...(options.keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeout: options.keepAliveTimeoutMs }),
    http: {
      headersTimeout: Math.min(60_000, requestTimeout),
      connectionsCheckingInterval: Math.max(50, Math.min(5_000, Math.floor(requestTimeout / 4))),
    },
    bodyLimit: options.bodyLimit ?? 64 * 1024,
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    return503OnClosing: true,
    // An empty list would be truthy to Fastify: leave the option off then (`request.ip` = the peer).
    ...(options.trustProxy !== undefined && options.trustProxy.length > 0
      ? { trustProxy: [...options.trustProxy] }
      : {}),
    // Ids are short, but dead-letter ids and encoded keys can pass Fastify's default of 100.
    // `/inventory/` is `/inventory`: a trailing slash must not turn into an empty path parameter.
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT_LENGTH, ignoreTrailingSlash: true },
    // Router-level errors (malformed URL, over-long parameter) get the one error shape too.
    // Neither echoes the URL back (an over-long one would be sent back whole): code, message, limit.
    frameworkErrors: (error, _request, reply) => {
      const status = typeof error.statusCode === "number" ? error.statusCode : 400;
      const body =
        status === 414
          ? errorBody("URI_TOO_LONG", `A path segment is over ${MAX_PATH_SEGMENT_LENGTH} characters`, {
              maxPathSegmentLength: MAX_PATH_SEGMENT_LENGTH,
            })
          : errorBody("BAD_URL", "The URL cannot be decoded (check its percent-escapes)");
      void (reply as unknown as FastifyReply).code(status).send(body);
    },
    // Errors Node's HTTP parser raises before any route (request line + headers over 16 KiB, a
    // request not received in time) get the one error shape too, not Fastify's default body.
    clientErrorHandler: answerClientError,
    ...(options.logger ? { loggerInstance: options.logger, disableRequestLogging: true } : { logger: false }),
  }) as unknown as FastifyInstance;
  trackOpenRequests(app.server);
  // First hook: a draining server refuses a request before anything else runs (drain.ts).
  installDrain(app);
  const allowed = installMethodIndex(app);
  if (options.tracing ?? tracingEnabled()) installServerSpans(app, options.incomingTrace);
  const { metrics } = options;
  if (metrics) {
    app.addHook("onResponse", async (request, reply) => {
      metrics.recordHttp({
        route: request.routeOptions.url ?? "unmatched",
        method: request.method,
        status: reply.statusCode,
        durationMs: reply.elapsedTime,
      });
    });
  }
  // JSON only: a text body would otherwise reach handlers as a string.
  app.removeContentTypeParser("text/plain");
  installStrictJsonParser(app);
  const unavailableLog = new LogThrottle(UNAVAILABLE_LOG_INTERVAL_MS);
  app.setErrorHandler((error, request, reply) => {
    const { status, body, retryAfter } = toResponse(error);
    if (status === 503) {
      // Handled and documented (Retry-After): an operator alerting on error lines must not be
      // paged for it, nor the log flooded by every request while a service is down (newuser9 F7).
      const { code, message } = body.error;
      // The unavailable service (the logger writes it as `peerService`, `service` being its own).
      const service = serviceOf(error);
      const suppressed = unavailableLog.admit(`${code}:${service ?? ""}`);
      if (suppressed !== undefined) {
        const fields = {
          code,
          reason: message,
          ...(service !== undefined ? { service } : {}),
          retryable: true,
          ...(suppressed > 0 ? { suppressed } : {}),
          ...requestLogFields(request),
          status,
        };
        const log = options.errorLog ?? request.log;
        if (log.warn) log.warn(fields, "request failed");
        else log.error(fields, "request failed");
      }
    } else if (status >= 500) {
      const fields = { err: error, ...requestLogFields(request), status };
      if (options.errorLog) options.errorLog.error(fields, "request failed");
      else request.log.error(fields, "request failed");
    }
    if (retryAfter !== undefined) void reply.header("retry-after", String(retryAfter));
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "/";
    const methods = allowed(path);
    if (methods.length > 0) {
      const message = `${request.method} is not allowed on ${path}; allowed: ${methods.join(", ")}`;
      void reply
        .status(405)
        .header("allow", methods.join(", "))
        .send(errorBody("METHOD_NOT_ALLOWED", message));
      return;
    }
    void reply.status(404).send(errorBody("NOT_FOUND", `No route ${request.method} ${path}`));
  });
  return app;
}

/**
 * Records every route's methods by path pattern, so a request whose path exists with other methods
 * gets 405 with `Allow` instead of 404. Returns the lookup: path → methods (sorted), none if unknown.
 */
function installMethodIndex(app: FastifyInstance): (path: string) => string[] {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook("onRoute", (route) => {
    const source = route.url
      .split("/")
      .map((part) => {
        if (part.startsWith(":")) return "[^/]+";
        if (part === "*") return ".*";
        return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      })
      .join("/");
    const pattern = new RegExp(`^${source}/?$`);
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const existing = routes.find((r) => r.pattern.source === pattern.source);
    if (existing) for (const m of methods) existing.methods.add(m);
    else routes.push({ pattern, methods: new Set(methods) });
  });
  return (path) => {
    const methods = new Set<string>();
    for (const route of routes) if (route.pattern.test(path)) for (const m of route.methods) methods.add(m);
    return [...methods].sort();
  };
}

/**
 * Parses a query string with a Zod object schema; issues are named `query:<parameter>` so the client
 * knows which parameter to fix (the messages give the format).
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const result = schema.safeParse(query);
  if (result.success) return result.data;
  // Zod reports every unknown parameter in one issue at the object's root: one issue per
  // parameter, named like the others (`query:user_id`), so a client sees which one to drop.
  const issues = result.error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: `query:${key}`, message: `unknown query parameter "${key}"` }))
      : toIssues([issue]).map((named) => ({
          ...named,
          path: named.path === "" ? "query" : `query:${named.path}`,
        })),
  );
  throw validationFailed(issues, "Invalid query parameters");
}

/** Parses input with a Zod schema; a mismatch is a 400 with every issue's path and message. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw validationFailed(toIssues(result.error.issues));
  return result.data;
}

/** How often (ms) a 503 of one code and service is logged at most: 10 s. */
export const UNAVAILABLE_LOG_INTERVAL_MS = 10_000;

/** The `service` an error's details name (the gateway's 503s do), for the log line and its throttle. */
function serviceOf(error: unknown): string | undefined {
  if (!(error instanceof AppError)) return undefined;
  const details = error.details as { service?: unknown } | undefined;
  return typeof details?.service === "string" ? details.service : undefined;
}

const LOGGABLE_ID = /^[\w.:-]{1,128}$/;

/**
 * What a failed request's log line says about the request: ids a person can search the logs and
 * traces by (only when well formed: a header is client input), method and route template (not the
 * raw URL, which may hold a cursor or an id), never a body or another header.
 */
function requestLogFields(request: FastifyRequest): Record<string, string> {
  const header = (name: string) => {
    const value = request.headers[name];
    return typeof value === "string" ? value : undefined;
  };
  const correlation = header("x-correlation-id");
  const traced = activeTraceFields() ?? traceFieldsOf(header("traceparent"));
  return {
    requestId: String(request.id),
    // The client's value, named as such: a saga's `correlationId` is minted by the service (break35 F5).
    ...(correlation && LOGGABLE_ID.test(correlation) ? { clientCorrelationId: correlation } : {}),
    method: request.method,
    route: request.routeOptions.url ?? "unmatched",
    ...traced,
  };
}

/** A well-formed `traceparent` header's ids (the one W3C parser); none for anything else. */
function traceFieldsOf(traceparent: string | undefined): { trace_id: string; span_id: string } | undefined {
  const parsed = parseTraceparent(traceparent);
  return parsed ? { trace_id: parsed.traceId, span_id: parsed.parentId } : undefined;
}

/**
 * The error for a JSON body Fastify's parser refused: when the text is valid JSON, the refusal was
 * for a reserved key (`__proto__`, or `constructor` holding `prototype`: prototype poisoning), and
 * the message says so instead of "not valid JSON"; otherwise the parser's own error.
 */
export function explainJsonError(text: string, error: Error): Error {
  try {
    JSON.parse(text);
  } catch {
    return error;
  }
  return new AppError(
    "MALFORMED_JSON",
    'The body uses a reserved key ("__proto__", or "constructor" holding "prototype"), refused as ' +
      "prototype poisoning: rename the key",
  );
}

export interface StrictJsonParserOptions {
  /** An empty (or all-whitespace) body parses as "no body" instead of an error (the gateway). */
  emptyIsNoBody?: boolean;
  /** Told the decoded text of each non-empty body before it is parsed (the gateway keeps it). */
  onText?: (request: FastifyRequest, text: string) => void;
}

/**
 * Replaces `app`'s JSON parser: Fastify's own (prototype-poisoning checks included), with the
 * reason for a refused reserved key said (break10 F6: it read "not valid JSON" for valid JSON), on
 * the body's bytes decoded strictly: invalid UTF-8, another charset or a Content-Encoding is
 * refused, never parsed altered (break13 F3, F4; `decodeJsonBody`).
 */
export function installStrictJsonParser(app: FastifyInstance, options: StrictJsonParserOptions = {}): void {
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    let text: string;
    try {
      text = decodeJsonBody(request.headers, body);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    if (options.emptyIsNoBody === true && text.trim() === "") {
      done(null, undefined);
      return;
    }
    options.onText?.(request, text);
    parseJson(request, text, (error, value) => done(error ? explainJsonError(text, error) : null, value));
  });
}
