import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { dlqRouteDocs } from "./routes/dlq.js";
import { buildOpenApiDocument, openApiPath } from "./openapi.js";
import { compilePath } from "./routes/proxied.js";
import { orderRoutes } from "./routes/orders.js";
import { shippingRoutes } from "./routes/shipping.js";
import type { ProxyRoute, RouteDoc } from "./routes/types.js";

describe("route paths", () => {
  it("turns Fastify parameters into OpenAPI templates", () => {
    expect(openApiPath("/orders/:id/cancel")).toEqual({ path: "/orders/{id}/cancel", params: ["id"] });
    expect(openApiPath("/health")).toEqual({ path: "/health", params: [] });
  });

  it("fills upstream paths with URL-encoded parameters", () => {
    expect(compilePath("/dlq/:id/retry")({ id: "a|b c" })).toBe("/dlq/a%7Cb%20c/retry");
    expect(compilePath("/inventory")({})).toBe("/inventory");
  });
});

describe("OpenAPI document", () => {
  const body = z.strictObject({ quantity: z.number().int().positive() });
  const restock: ProxyRoute = {
    method: "POST",
    url: "/things/:id/restock",
    service: "inventory",
    tag: "T",
    summary: "restock",
    body,
    query: z.object({ dryRun: z.string().optional(), reason: z.string() }),
    responses: { 200: "done", 400: "bad" },
  };
  const routes: RouteDoc[] = [
    { method: "GET", url: "/health", tag: "G", summary: "h", authenticated: false, responses: { 200: "ok" } },
    restock,
  ];

  it("documents parameters, the JSON Schema of the body and error answers of a proxied route", () => {
    const doc = buildOpenApiDocument(routes, { version: "1.0.0", authRequired: false }) as {
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    const op = doc.paths["/things/{id}/restock"]?.post ?? {};
    expect(op.parameters).toEqual([
      { name: "id", in: "path", required: true, schema: { type: "string" } },
      { name: "dryRun", in: "query", required: false, schema: { type: "string" } },
      { name: "reason", in: "query", required: true, schema: { type: "string" } },
    ]);
    const schema = (
      op.requestBody as { content: { "application/json": { schema: Record<string, unknown> } } }
    ).content["application/json"].schema;
    expect(schema).toMatchObject({ type: "object", required: ["quantity"], additionalProperties: false });
    expect(schema.$schema).toBeUndefined();
    expect(Object.keys(op.responses as object)).toEqual([
      "200",
      "400",
      "408",
      "413",
      "414",
      "415",
      "431",
      "500",
      "502",
      "503",
      "504",
    ]);
    expect(
      (op.responses as Record<string, { "x-error-codes"?: string[] }>)["400"]?.["x-error-codes"],
    ).toContain("VALIDATION_FAILED");
    expect(op.security).toBeUndefined();
    // Break10 F7: 414 only where the path has parameters, 408 everywhere.
    const health = doc.paths["/health"]?.get?.responses as Record<string, { "x-error-codes"?: string[] }>;
    expect(Object.keys(health)).toContain("408");
    expect(Object.keys(health)).not.toContain("414");
    expect((op.responses as typeof health)["414"]?.["x-error-codes"]).toEqual(["URI_TOO_LONG"]);
    expect((op.responses as typeof health)["408"]?.["x-error-codes"]).toEqual(["REQUEST_TIMEOUT"]);
  });

  it("adds 401 and global security only when keys are required, leaving public routes open", () => {
    const doc = buildOpenApiDocument(routes, { version: "1.0.0", authRequired: true }) as {
      security: unknown[];
      paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
    };
    expect(doc.security).toHaveLength(2);
    expect(doc.paths["/health"]?.get?.security).toEqual([]);
    expect(doc.paths["/health"]?.get?.responses["401"]).toBeUndefined();
    expect(doc.paths["/things/{id}/restock"]?.post?.responses["401"]).toBeDefined();
  });

  it("documents the shipment routes: admin-only (403), paging parameters, 404 NOT_FOUND and SHIPMENT_NOT_PARKED", () => {
    const doc = buildOpenApiDocument(shippingRoutes, { version: "1.0.0", authRequired: true }) as {
      paths: Record<
        string,
        Record<string, { parameters: { name: string; in: string }[]; responses: Record<string, Json> }>
      >;
    };
    type Json = { "x-error-codes"?: string[] };
    const list = doc.paths["/shipments/parked"]?.get;
    const requeue = doc.paths["/shipments/{orderId}/requeue"]?.post;
    const read = doc.paths["/shipments/{orderId}"]?.get;
    expect(list?.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(["query:limit", "query:cursor"]);
    for (const op of [read, requeue])
      expect(op?.parameters.map((p) => `${p.in}:${p.name}`)).toEqual(["path:orderId"]);
    for (const op of [list, read, requeue])
      expect(op?.responses["403"]?.["x-error-codes"]).toContain("ADMIN_REQUIRED");
    expect(read?.responses["404"]?.["x-error-codes"]).toContain("NOT_FOUND");
    expect(read?.responses["400"]?.["x-error-codes"]).toContain("VALIDATION_FAILED");
    expect(requeue?.responses["404"]?.["x-error-codes"]).toContain("SHIPMENT_NOT_PARKED");
    expect(list?.responses["400"]?.["x-error-codes"]).toContain("VALIDATION_FAILED");
  });

  // break42 F4: the order reads by id ignored any query; they refuse it now, and say so.
  it("documents that the order reads by id take no query parameter (400 naming it)", () => {
    const doc = buildOpenApiDocument(orderRoutes, { version: "1.0.0", authRequired: true }) as {
      paths: Record<
        string,
        Record<
          string,
          {
            description?: string;
            parameters: { name: string; in: string }[];
            responses: Record<string, Json>;
          }
        >
      >;
    };
    type Json = { description?: string; "x-error-codes"?: string[] };
    for (const path of ["/orders/{id}", "/orders/{id}/events"]) {
      const op = doc.paths[path]?.get;
      expect(
        op?.parameters.map((p) => `${p.in}:${p.name}`),
        path,
      ).toEqual(["path:id"]);
      expect(op?.description, path).toMatch(/no query parameter.*400 VALIDATION_FAILED/);
      expect(op?.responses["400"]?.description, path).toMatch(/any query parameter/);
      expect(op?.responses["400"]?.["x-error-codes"], path).toContain("VALIDATION_FAILED");
    }
  });

  it("lists 503 on every dead-letter route (store unreachable, redelivery failed)", () => {
    const doc = buildOpenApiDocument(dlqRouteDocs, { version: "1.0.0", authRequired: false }) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const operations = Object.values(doc.paths).flatMap((ops) => Object.values(ops));
    expect(operations.length).toBe(dlqRouteDocs.length);
    for (const op of operations) expect(op.responses["503"]).toBeDefined();
  });

  it("documents every dead-letter route: request and answer schemas, and an example of each answer", () => {
    const doc = buildOpenApiDocument(dlqRouteDocs, { version: "1.0.0", authRequired: false }) as {
      paths: Record<string, Record<string, Operation>>;
    };
    for (const route of dlqRouteDocs) {
      const name = `${route.method} ${route.url}`;
      const op = doc.paths[openApiPath(route.url).path]?.[route.method.toLowerCase()];
      expect(op, name).toBeDefined();
      const ok = op?.responses["200"]?.content["application/json"];
      expect(ok?.schema, `${name} answer schema`).toMatchObject({ type: "object" });
      // The examples are true to the schemas: each parses with the route's own Zod schemas.
      expect(route.answer?.safeParse(ok?.example).success, `${name} 200 example`).toBe(true);
      if (route.body) {
        const request = op?.requestBody?.content["application/json"];
        expect(route.body.safeParse(request?.example).success, `${name} request example`).toBe(true);
      }
      for (const status of Object.keys(route.responses).filter((s) => Number(s) >= 400)) {
        const answer = op?.responses[status];
        const example = answer?.content["application/json"]?.example as { error?: { code?: string } };
        expect(example?.error?.code, `${name} ${status} example`).toBeDefined();
        expect(answer?.["x-error-codes"], `${name} ${status}`).toContain(example.error?.code);
      }
    }
  });

  it("lists every dead-letter route, its body and answers in the README's API section", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("### Dead-letter queue"), readme.indexOf("## Event catalog"));
    for (const route of dlqRouteDocs) expect(section, route.url).toContain(`\`${route.method} ${route.url}`);
    for (const word of [
      "DLQ_NOT_FOUND",
      "DLQ_ARCHIVED",
      "DLQ_REDELIVERY_FAILED",
      "olderThan",
      "detail",
      "ids",
    ]) {
      expect(section, word).toContain(word);
    }
  });
});

interface Operation {
  requestBody?: { content: Record<string, { example?: unknown }> };
  responses: Record<
    string,
    { "x-error-codes"?: string[]; content: Record<string, { schema?: unknown; example?: unknown }> }
  >;
}
