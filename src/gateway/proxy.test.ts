import { describe, expect, it } from "vitest";
import { waitFor } from "../test-support/wait.js";
import { useTestGateway } from "./test-upstream.js";

const order = { userId: "u-1", items: [{ productId: "p-1", quantity: 1 }], payment: { token: "tok_visa" } };

const harness = useTestGateway();

const upstream = harness.upstream;

const postOrder = (headers: Record<string, string> = {}) =>
  fetch(`${harness.gw.url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(order),
  });

describe("gateway proxy: balancing and failover", () => {
  it("spreads requests over every healthy instance in turn", async () => {
    const gw = await harness.start();
    const a = await upstream("order", "order-a");
    const b = await upstream("order", "order-b");
    for (let i = 0; i < 6; i++) expect((await fetch(`${gw.url}/orders/o-${i}`)).status).toBe(200);
    expect(a.hits).toHaveLength(3);
    expect(b.hits).toHaveLength(3);
  });

  it("keeps answering when an instance dies: refused calls go to the other, which is marked unhealthy", async () => {
    const gw = await harness.start({ breaker: { failureThreshold: 2, resetTimeoutMs: 60_000 } });
    const a = await upstream("order", "order-a", (hit) => ({
      status: 202,
      body: { orderId: hit.url, status: "pending" },
    }));
    const b = await upstream("order", "order-b", (hit) => ({
      status: 202,
      body: { orderId: hit.url, status: "pending" },
    }));
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await postOrder()).status);
    // The instance shuts down while a burst is in flight.
    const inFlight = Promise.all(Array.from({ length: 20 }, () => postOrder().then((r) => r.status)));
    await a.close();
    const burst = await inFlight;
    for (let i = 0; i < 10; i++) statuses.push((await postOrder()).status);
    expect([...statuses, ...burst].every((s) => s === 202)).toBe(true);
    // The first refusal marks it unhealthy (no longer routed to), before its breaker would open.
    const registry = gw.registry;
    await waitFor(
      async () => (await registry.get("order", "order-a"))?.status === "unhealthy",
      2_000,
      "order-a unhealthy",
    );
    expect(b.hits.length).toBeGreaterThanOrEqual(35);
  });

  it("answers 503 SERVICE_UNAVAILABLE with Retry-After when no instance is registered", async () => {
    await harness.start();
    const res = await postOrder();
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("SERVICE_UNAVAILABLE");
  });

  it("answers 503 once every instance is refused, and while every breaker is open", async () => {
    const gw = await harness.start({ breaker: { failureThreshold: 1, resetTimeoutMs: 60_000 } });
    const a = await upstream("order", "order-a");
    await a.close();
    const first = await fetch(`${gw.url}/orders/o-1`);
    expect(first.status).toBe(503);
    expect(gw.gateway.proxy.breakerFor(a.instance).state).toBe("OPEN");
    const second = await fetch(`${gw.url}/orders/o-1`);
    expect(second.status).toBe(503);
    expect(second.headers.get("retry-after")).toBe("1");
  });

  it("answers 504 UPSTREAM_TIMEOUT when an instance hangs", async () => {
    const gw = await harness.start({ upstreamTimeoutMs: 150 });
    await upstream("order", "order-a", () => ({ status: 200, hang: true }));
    const res = await fetch(`${gw.url}/orders/o-1`);
    expect(res.status).toBe(504);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("UPSTREAM_TIMEOUT");
  });

  it("retries a GET on another instance after a 5xx, but not a POST", async () => {
    const gw = await harness.start();
    const failing = { status: 500, body: { error: { code: "INTERNAL", message: "Internal server error" } } };
    const a = await upstream("order", "order-a", () => failing);
    const b = await upstream("order", "order-b", () => ({
      status: 202,
      body: { orderId: "o", status: "pending" },
    }));
    expect((await fetch(`${gw.url}/orders/o-1`)).status).toBe(202);
    expect(a.hits.length + b.hits.length).toBe(2);
    // The round-robin cursor now points at a again: a POST there is not repeated elsewhere.
    const post = await postOrder();
    expect(post.status).toBe(500);
    expect(await post.json()).toEqual(failing.body);
    expect(a.hits).toHaveLength(2);
    expect(b.hits).toHaveLength(1);
  });

  it("sends a POST refused by a draining instance to the next one", async () => {
    await harness.start();
    const drainBody = '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}';
    const a = await upstream("order", "order-a", () => ({
      status: 503,
      body: drainBody,
      headers: { "content-type": "application/json" },
    }));
    const b = await upstream("order", "order-b", () => ({
      status: 202,
      body: { orderId: "o", status: "pending" },
    }));
    expect((await postOrder()).status).toBe(202);
    expect((await postOrder()).status).toBe(202);
    // Each POST is tried on a first (round-robin), refused there, and answered by b.
    expect(a.hits).toHaveLength(2);
    expect(b.hits).toHaveLength(2);
  });

  it("hides a 5xx that is not in the error shape behind 502 BAD_GATEWAY", async () => {
    await harness.start();
    await upstream("order", "order-a", () => ({
      status: 500,
      body: "<html>stack at /srv/x.ts</html>",
      headers: { "content-type": "text/html" },
    }));
    const res = await postOrder();
    expect(res.status).toBe(502);
    const text = await res.text();
    expect(text).not.toContain("srv");
    expect((JSON.parse(text) as { error: { code: string } }).error.code).toBe("BAD_GATEWAY");
  });
});
