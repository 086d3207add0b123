import { describe, expect, it } from "vitest";
import { useTestGateway } from "../test-upstream.js";

const harness = useTestGateway();

const started = (service: string, id: string) => harness.upstream(service, id);

const getJson = async (path: string) => {
  const res = await fetch(`${harness.gw.url}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("gateway: own routes", () => {
  it("reports its own health", async () => {
    const gw = await harness.start();
    const { status, body } = await getJson("/health");
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ok", service: "gateway", instanceId: gw.gateway.instanceId });
  });

  it("lists every registered service with its instances, the gateway included", async () => {
    await harness.start();
    const a = await started("order", "order-a");
    await started("order", "order-b");
    const { body } = await getJson("/services");
    const services = body.services as { name: string; instances: Record<string, unknown>[] }[];
    expect(services.map((s) => s.name)).toEqual(["gateway", "order"]);
    const order = services.find((s) => s.name === "order");
    expect(order?.instances).toHaveLength(2);
    expect(order?.instances[0]).toEqual({
      instanceId: "order-a",
      address: "127.0.0.1",
      port: a.instance.port,
      version: "1.0.0",
      status: "healthy",
      lastHeartbeat: a.instance.lastHeartbeat,
      startedAt: a.instance.startedAt,
      metricsUrl: `http://127.0.0.1:${a.instance.port}/metrics`,
    });
  });

  it("sums up a service's health from each instance's /health", async () => {
    await harness.start();
    await started("user", "user-a");
    const b = await started("user", "user-b");
    const healthy = await getJson("/services/user/health");
    expect(healthy.status).toBe(200);
    expect(healthy.body).toMatchObject({ service: "user", status: "healthy" });
    expect(healthy.body.instances).toHaveLength(2);
    await b.close();
    const degraded = await getJson("/services/user/health");
    expect(degraded.body.status).toBe("degraded");
    const reports = degraded.body.instances as { instanceId: string; status: string }[];
    expect(reports.find((r) => r.instanceId === "user-b")?.status).toBe("unhealthy");
  });

  it("calls a known service without instances unavailable, and an unknown one 404", async () => {
    await harness.start();
    expect((await getJson("/services/payment/health")).body).toEqual({
      service: "payment",
      status: "unavailable",
      instances: [],
    });
    const unknown = await getJson("/services/nope/health");
    expect(unknown.status).toBe(404);
    expect((unknown.body.error as { code: string }).code).toBe("NOT_FOUND");
  });

  it("exposes Prometheus metrics with request counts by route template", async () => {
    const gw = await harness.start();
    await started("order", "order-a");
    await fetch(`${gw.url}/orders/o-1`);
    const res = await fetch(`${gw.url}/metrics`);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toMatch(
      /ordersaga_http_requests_total\{[^}]*route="\/orders\/:id"[^}]*status="200"[^}]*\} 1/,
    );
    expect(text).toContain("ordersaga_http_request_duration_seconds_bucket");
  });

  it("serves an AsyncAPI document of the event catalog", async () => {
    await harness.start();
    const { body } = await getJson("/asyncapi.json");
    expect(body.asyncapi).toBe("3.0.0");
    const addresses = Object.values(body.channels as Record<string, { address: string }>).map(
      (c) => c.address,
    );
    expect(addresses).toEqual(
      expect.arrayContaining(["order.placed", "payment.requested", "inventory.reserved"]),
    );
  });

  it("serves an OpenAPI 3.1 document listing every route, with body schemas from the contracts", async () => {
    await harness.start();
    const { body } = await getJson("/openapi.json");
    expect(body.openapi).toBe("3.1.0");
    const paths = body.paths as Record<
      string,
      Record<string, { requestBody?: unknown; security?: unknown[] }>
    >;
    const expected: [string, string][] = [
      ["/users", "post"],
      ["/users/{id}", "get"],
      ["/users/{id}", "put"],
      ["/users/{id}", "delete"],
      ["/orders", "post"],
      ["/orders/{id}", "get"],
      ["/orders/{id}/cancel", "post"],
      ["/orders/{id}/events", "get"],
      ["/inventory", "get"],
      ["/inventory", "post"],
      ["/inventory/{productId}", "get"],
      ["/inventory/{productId}/restock", "post"],
      ["/notifications", "get"],
      ["/health", "get"],
      ["/services", "get"],
      ["/services/{name}/health", "get"],
      ["/metrics", "get"],
      ["/dlq", "get"],
      ["/dlq/{id}", "get"],
      ["/dlq/{id}/retry", "post"],
      ["/dlq/retry", "post"],
      ["/dlq/{id}/archive", "post"],
      ["/dlq", "delete"],
    ];
    for (const [path, method] of expected) expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    const orderBody = paths["/orders"]?.post?.requestBody as {
      required: boolean;
      content: { "application/json": { schema: { required: string[] } } };
    };
    expect(orderBody.required).toBe(true);
    expect(orderBody.content["application/json"].schema.required).toEqual(["userId", "items", "payment"]);
  });

  it("records every route as a prom-client metric only once per request", async () => {
    const gw = await harness.start();
    await fetch(`${gw.url}/health`);
    await fetch(`${gw.url}/health`);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(/ordersaga_http_requests_total\{[^}]*route="\/health"[^}]*\} 2/);
  });
});
