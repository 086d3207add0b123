/** Registers the routes answered by service instances: check at the edge, then forward. */
import { validateHeaderValue } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { AppError } from "../../lib/http/errors.js";
import { CLIENT_HEADER } from "../../lib/http/headers.js";
import { parseKeyedInput } from "../../lib/http/idempotency-key.js";
import { parseInput } from "../../lib/http/server.js";
import { callerOf } from "../auth.js";
import { rawBodyOf } from "../json-body.js";
import type { UpstreamProxy, UpstreamRequest } from "../proxy.js";
import { isIdempotentMethod } from "../upstream-errors.js";
import { proxyRoutes } from "./table.js";
import type { ProxyRoute } from "./types.js";

export { proxyRoutes };

/**
 * Client headers a service needs (idempotency, correlation); credentials stay at the gateway. The
 * client's `traceparent`/`tracestate` stay too: upstream gets the gateway's own context (its CLIENT
 * span, injected by the proxy), so a client cannot pick the order's trace or switch sampling off.
 */
export const FORWARDED_HEADERS = ["idempotency-key", "x-correlation-id", "x-request-id"];

/** `/orders/:id/cancel` → a function filling `:id` with the URL-encoded parameter. */
export function compilePath(template: string): (params: Record<string, string>) => string {
  const parts = template.split("/").map((part) => (part.startsWith(":") ? { param: part.slice(1) } : part));
  if (!parts.some((part) => typeof part !== "string")) return () => template;
  return (params) =>
    parts
      .map((part) => (typeof part === "string" ? part : encodeURIComponent(params[part.param] ?? "")))
      .join("/");
}

export function registerProxyRoutes(
  app: FastifyInstance,
  routes: readonly ProxyRoute[],
  proxy: UpstreamProxy,
): void {
  for (const route of routes) {
    const buildPath = compilePath(route.url);
    app.route({
      // HEAD is a route of its own, not Fastify's automatic one: that one sets content-length to the
      // length of the body the handler sends, 0 for an instance's bodiless HEAD answer (proxy9), where
      // the instance's own content-length (the length of its GET body) is the right one.
      method: route.method === "GET" ? ["GET", "HEAD"] : route.method,
      url: route.url,
      handler: async (request, reply) => {
        refuseUnhonouredKey(route, request);
        // A keyed route's 400 names the bad body fields and a malformed key together (newuser15 F3).
        if (route.idempotencyKey === true && route.body) parseKeyedInput(route.body, request);
        else if (route.body) parseInput(route.body, request.body);
        const upstream = toUpstream(request, buildPath(request.params as Record<string, string>));
        upstream.retrySafe = isRetrySafe(route, upstream);
        return relayAnswer(request, reply, await proxy.forward(route.service, upstream));
      },
    });
  }
}

/**
 * A POST whose service does not deduplicate by Idempotency-Key must not look as if it did: the
 * client would resend it after a 502 and have it applied twice (review finding 5). Refused, 400.
 */
function refuseUnhonouredKey(route: ProxyRoute, request: FastifyRequest): void {
  if (route.method !== "POST" || route.idempotencyKey === true) return;
  if (request.headers["idempotency-key"] === undefined) return;
  throw new AppError(
    "IDEMPOTENCY_KEY_NOT_SUPPORTED",
    `POST ${route.url} does not honour Idempotency-Key (only ${honouringRoutes()} do); ` +
      "send it without the header, and after a 502 check the resource before resending",
    [{ path: "header:Idempotency-Key", message: "not accepted on this route" }],
  );
}

/** "POST /orders": the routes that apply a keyed POST at most once. */
export function honouringRoutes(routes: readonly ProxyRoute[] = proxyRoutes): string {
  return routes
    .filter((r) => r.idempotencyKey === true)
    .map((r) => `${r.method} ${r.url}`)
    .join(", ");
}

/** Safe to resend after a failure that may have been applied (see UpstreamRequest.retrySafe). */
function isRetrySafe(route: ProxyRoute, upstream: UpstreamRequest): boolean {
  if (isIdempotentMethod(upstream.method)) return true;
  return route.idempotencyKey === true && upstream.headers["idempotency-key"] !== undefined;
}

function toUpstream(request: FastifyRequest, path: string): UpstreamRequest {
  const queryAt = request.url.indexOf("?");
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers[name];
    if (typeof value === "string") headers[name] = value;
  }
  // Scopes Idempotency-Keys per client (set here, never taken from the client).
  headers[CLIENT_HEADER] = callerOf(request);
  const upstream: UpstreamRequest = {
    method: request.method,
    path: queryAt === -1 ? path : path + request.url.slice(queryAt),
    headers,
  };
  // JSON is the only body the server parses, and its parser keeps the text: forward it as sent.
  const body = rawBodyOf(request);
  if (body !== undefined && request.method !== "GET") {
    headers["content-type"] = "application/json";
    upstream.body = body;
  }
  return upstream;
}

/**
 * Relays the instance's answer, its headers as they came. A header value Node cannot write is
 * dropped (logged), not allowed to fail the answer: the request may already be applied (a POST), so
 * its answer matters more than one passed header. Should the send still throw, the headers set here
 * are removed first, so the error handler's answer is the error shape and not Fastify's default
 * body (break-gw F1).
 *
 * Values are not checked before the send: the HTTP client's parser (undici's llhttp) refuses a
 * response holding any character Node's validateHeaderValue refuses (controls but HTAB, DEL, a bare
 * LF: the instance's call fails, 502 BAD_GATEWAY, relayed-headers.test.ts), and the values are its
 * bytes decoded as latin1 (upstream-call.ts), so every value relayed is writable and Node checks
 * each again when it writes the head. The check per header on every answer (writableHeaders) runs
 * only when that write threw.
 */
export function relayAnswer(
  request: FastifyRequest,
  reply: FastifyReply,
  answer: { status: number; headers: Record<string, string>; body: Buffer },
) {
  const response = withRelayedLength(request.method, answer);
  const relay = (headers: Record<string, string>) => {
    void reply.code(response.status).headers(headers);
    return response.body.length === 0 ? reply.send() : reply.send(response.body);
  };
  const unset = () => {
    for (const name of Object.keys(response.headers)) reply.removeHeader(name);
  };
  try {
    return relay(response.headers);
  } catch (error) {
    unset();
    const writable = writableHeaders(response.headers, (name, dropped) =>
      request.log.warn({ header: name, err: dropped }, "upstream response header dropped: cannot be relayed"),
    );
    if (writable !== response.headers) {
      try {
        return relay(writable);
      } catch {
        unset();
      }
    }
    request.log.warn({ err: error, status: response.status }, "upstream answer could not be relayed");
    throw new AppError("BAD_GATEWAY", "The service's answer could not be relayed");
  }
}

/**
 * `answer` with the instance's content-length kept only where it is the right one: an instance's
 * bodiless answer to HEAD, where it is the length of the body GET would get (RFC 9110 §9.3.2;
 * Fastify keeps a HEAD answer's content-length as set, and sends none when the instance sent none).
 * Any other answer is sent with the length of the body the gateway sends, which Fastify sets.
 */
function withRelayedLength<A extends { headers: Record<string, string>; body: Buffer }>(
  method: string,
  answer: A,
): A {
  if (!("content-length" in answer.headers)) return answer;
  if (method === "HEAD" && answer.body.length === 0) return answer;
  const { "content-length": _dropped, ...headers } = answer.headers;
  return { ...answer, headers };
}

/** `headers` without those whose value Node's HTTP server would refuse to write (`onDropped` each). */
export function writableHeaders(
  headers: Record<string, string>,
  onDropped: (name: string, error: unknown) => void,
): Record<string, string> {
  let out: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderValue(name, value);
    } catch (error) {
      out ??= { ...headers };
      delete out[name];
      onDropped(name, error);
    }
  }
  return out ?? headers;
}
