/**
 * The OpenAPI 3.1 document, generated from the route descriptions that also register the routes,
 * with request bodies from the same Zod schemas the gateway validates with (zod 4 `toJSONSchema`).
 */
import { z } from "zod";
import { codesByStatus, ERROR_CODES } from "../lib/http/error-codes.js";
import { isAdminRoute } from "./auth.js";
import type { ProxyRoute, RouteDoc } from "./routes/types.js";

export interface OpenApiOptions {
  title?: string;
  version: string;
  /** Whether API keys are required (then every operation but the public ones lists security). */
  authRequired: boolean;
}

type Json = Record<string, unknown>;

const ERROR_REF = { $ref: "#/components/schemas/Error" };

const ERROR_SCHEMA: Json = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string", enum: Object.keys(ERROR_CODES), examples: ["VALIDATION_FAILED"] },
        message: { type: "string" },
        details: {},
      },
    },
  },
};

function jsonSchema(schema: z.ZodType): Json {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
  }) as Json;
  return rest;
}

/** `/orders/:id/cancel` → `/orders/{id}/cancel` and the names of its path parameters. */
export function openApiPath(url: string): { path: string; params: string[] } {
  const params: string[] = [];
  const path = url
    .split("/")
    .map((part) => {
      if (!part.startsWith(":")) return part;
      params.push(part.slice(1));
      return `{${part.slice(1)}}`;
    })
    .join("/");
  return { path, params };
}

function parameters(route: RouteDoc, pathParams: string[]): Json[] {
  const out: Json[] = pathParams.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: { type: "string" },
  }));
  if ((route as ProxyRoute).idempotencyKey) {
    out.push({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      description:
        "Makes the request safe to resend: applied at most once per client and key within 24 h; a " +
        "replay answers the current state with Idempotent-Replayed: true, another body 422; a " +
        "refusal decided on the resource's state (a restock's 404 or 400 over the limit) is saved " +
        "and replayed the same way.",
      schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,255}$" },
    });
  }
  if (route.query) {
    const schema = jsonSchema(route.query) as { properties?: Record<string, Json>; required?: string[] };
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      out.push({ name, in: "query", required: schema.required?.includes(name) ?? false, schema: property });
    }
  }
  return out;
}

/**
 * The route's own answers, plus those every route of its kind can give: invalid input (400) where
 * it takes input, body limits (413, 415) where it takes a body, 401 with keys, 414 where the path has
 * parameters, 408, 431 and 500 anywhere, and for proxied
 * routes the gateway's own failures (502, 503, 504). Each error status lists its possible codes.
 */
function responses(route: RouteDoc, authRequired: boolean): Json {
  const answers: Record<number, string> = { ...route.responses };
  const takesInput = route.body !== undefined || route.query !== undefined || route.url.includes(":");
  if (takesInput) answers[400] ??= "Invalid input: the details name each field and its format";
  if (route.body) {
    answers[413] ??= "Body over the size limit";
    answers[415] ??= "Body that is not application/json (UTF-8), or sent with a Content-Encoding";
  }
  if (authRequired && route.authenticated !== false) {
    answers[401] ??= "Missing or invalid API key";
    answers[429] ??=
      "This API key is over its rate limit, or this address failed authentication too often (RATE_LIMITED, Retry-After)";
    if (isAdminRoute(route.method, route.url))
      answers[403] ??= "A client key on an admin operation (ADMIN_REQUIRED)";
  }
  // Answered before any route runs (break10 F7: they were missing): a path segment over the router's
  // limit where the path has parameters, and a request not received in time anywhere.
  if (route.url.includes(":")) answers[414] ??= "A path segment over the length limit (URI_TOO_LONG)";
  answers[408] ??= "The request was not received completely in time (REQUEST_TIMEOUT)";
  answers[431] ??= "Request line and headers over 16 KiB (e.g. a very long query string)";
  answers[500] ??= "Unexpected failure";
  if ("service" in route) {
    answers[502] ??= "The service failed while answering; the outcome may be unknown (see the code)";
    answers[503] ??= "No healthy instance can serve (Retry-After set)";
    answers[504] ??= "The service did not answer in time";
  }
  const byStatus = codesByStatus();
  const out: Json = {};
  for (const [status, description] of Object.entries(answers)) {
    const codes = byStatus.get(Number(status)) ?? [];
    const example = route.examples?.responses?.[Number(status)];
    const withExample = (content: Json): Json => (example === undefined ? content : { ...content, example });
    const success =
      Number(status) < 300 && route.answer !== undefined ? { schema: jsonSchema(route.answer) } : {};
    out[status] =
      Number(status) >= 400
        ? {
            description: `${description} (${codes.join(", ")})`,
            "x-error-codes": codes,
            content: { "application/json": withExample({ schema: ERROR_REF }) },
          }
        : { description, content: { "application/json": withExample(success) } };
  }
  return out;
}

function operation(route: RouteDoc, authRequired: boolean, pathParams: string[]): Json {
  const op: Json = {
    operationId: `${route.method.toLowerCase()}${route.url.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c?: string) => (c ? c.toUpperCase() : ""))}`,
    tags: [route.tag],
    summary: route.summary,
    parameters: parameters(route, pathParams),
    responses: responses(route, authRequired),
  };
  if (route.description !== undefined) op.description = route.description;
  if (route.body) {
    const example = route.examples?.request;
    op.requestBody = {
      required: !route.body.safeParse(undefined).success,
      content: {
        "application/json": { schema: jsonSchema(route.body), ...(example === undefined ? {} : { example }) },
      },
    };
  }
  if (route.authenticated === false) op.security = [];
  if ("service" in route) op["x-upstream-service"] = (route as ProxyRoute).service;
  return op;
}

export function buildOpenApiDocument(routes: readonly RouteDoc[], options: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    const { path, params } = openApiPath(route.url);
    paths[path] ??= {};
    (paths[path] as Json)[route.method.toLowerCase()] = operation(route, options.authRequired, params);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: options.title ?? "Ordersaga API gateway",
      version: options.version,
      description:
        "The only public entry of Ordersaga. Errors share one shape: { error: { code, message, details? } }. " +
        "A path that exists with other methods answers 405 METHOD_NOT_ALLOWED with an Allow header; an " +
        "unknown path 404 NOT_FOUND; a trailing slash is ignored.",
    },
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer" },
        apiKey: { type: "apiKey", in: "header", name: "x-api-key" },
      },
    },
    ...(options.authRequired ? { security: [{ bearer: [] }, { apiKey: [] }] } : {}),
  };
}
