/**
 * Issue 10 input 9: in one process the gateway's /metrics has every service's series (labelled by
 * `service`, with samples), and /services tells where each instance's own /metrics is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "../system/embedded.js";
import { waitFor } from "../test-support/wait.js";

let system: EmbeddedSystem;

beforeAll(async () => {
  system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
});
afterAll(async () => {
  await system?.stop();
});

describe("metrics in one place", () => {
  it("serves every service's series with samples on the gateway's /metrics", async () => {
    const api = createApiClient(system.gatewayUrl);
    const user = await api.post<{ id: string }>("/users", {
      email: `m-${Date.now()}@example.com`,
      name: "M",
    });
    const placed = await api.post<{ orderId: string }>("/orders", {
      userId: user.body.id,
      items: [{ productId: "prod-cable", quantity: 1 }],
      payment: { token: "tok_ok" },
    });
    await waitFor(
      async () =>
        ["shipped", "delivered"].includes(
          (await api.get<{ status: string }>(`/orders/${placed.body.orderId}`)).body.status,
        ),
      15_000,
      "the order to ship",
    );
    const text = await waitFor(
      async () => {
        const body = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
        return /ordersaga_sagas_total\{[^}]*service="order"[^}]*\} [1-9]/.test(body) ? body : undefined;
      },
      10_000,
      "a saga sample",
    );
    expect(text).toMatch(/ordersaga_events_processed_total\{[^}]*service="inventory"[^}]*\} [1-9]/);
    expect(text).toMatch(/ordersaga_http_requests_total\{[^}]*service="gateway"[^}]*\} [1-9]/);
    expect(text).toMatch(/ordersaga_http_requests_total\{[^}]*service="user"[^}]*\} [1-9]/);
    // One family per name: a second HELP line for a name would make the exposition invalid.
    const helps = text.split("\n").filter((line) => line.startsWith("# HELP "));
    expect(new Set(helps).size).toBe(helps.length);
  });

  // New-user finding: `saga_compensations_pending{service="gateway"} 0` (and one per service) came
  // from a label-less gauge every registry had; only the saga's owner, order, may export saga series.
  it("exports saga series from the order service only", async () => {
    const text = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
    const samples = text.split("\n").filter((line) => /^ordersaga_sagas?_/.test(line));
    expect(samples.some((line) => line.startsWith("ordersaga_saga_compensations_pending"))).toBe(true);
    expect(samples.filter((line) => !line.includes('service="order"'))).toEqual([]);
  });

  it("lists each instance's metrics URL in /services, and it answers", async () => {
    const body = (await (await fetch(`${system.gatewayUrl}/services`)).json()) as {
      services: { name: string; instances: { metricsUrl: string }[] }[];
    };
    const order = body.services.find((s) => s.name === "order")?.instances[0];
    expect(order?.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const own = await (await fetch(order!.metricsUrl)).text();
    expect(own).toContain('service="order"');
  });
});
