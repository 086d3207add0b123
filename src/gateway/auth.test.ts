import { describe, expect, it } from "vitest";
import { isAdminRoute } from "./auth.js";
import { type TestUpstream, useTestGateway } from "./test-upstream.js";

const harness = useTestGateway();
let upstream: TestUpstream | undefined;

async function withKeys(apiKeys: string[]) {
  const gw = await harness.start({ apiKeys });
  upstream = await harness.upstream("order", "order-a");
  return gw.url;
}

describe("gateway: API keys", () => {
  it("lets everything through when no key is configured", async () => {
    const url = await withKeys([]);
    expect((await fetch(`${url}/orders/o-1`)).status).toBe(200);
    expect((await fetch(`${url}/services`)).status).toBe(200);
  });

  it("answers 401 UNAUTHORIZED without a key or with a wrong one, before proxying", async () => {
    const url = await withKeys(["k-1", "k-2"]);
    const missing = await fetch(`${url}/orders/o-1`);
    expect(missing.status).toBe(401);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    const wrong = await fetch(`${url}/orders/o-1`, { headers: { authorization: "Bearer k-3" } });
    expect(wrong.status).toBe(401);
    expect(upstream?.hits).toHaveLength(0);
  });

  it("accepts a Bearer token or an x-api-key header", async () => {
    const url = await withKeys(["k-1", "k-2"]);
    expect((await fetch(`${url}/orders/o-1`, { headers: { authorization: "Bearer k-2" } })).status).toBe(200);
    expect((await fetch(`${url}/orders/o-1`, { headers: { "x-api-key": "k-1" } })).status).toBe(200);
  });

  it("keeps /health open and protects the gateway's other routes", async () => {
    const url = await withKeys(["k-1"]);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    for (const path of ["/services", "/metrics", "/openapi.json", "/dlq"]) {
      expect((await fetch(`${url}${path}`)).status, path).toBe(401);
    }
  });

  it("checks the key before reading the body, so an unauthenticated big body is 401, not 413", async () => {
    const url = await withKeys(["k-1"]);
    const res = await fetch(`${url}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ pad: "x".repeat(100_000) }),
    });
    expect(res.status).toBe(401);
  });

  it("marks operations as secured in the OpenAPI document when keys are on", async () => {
    const url = await withKeys(["k-1"]);
    const doc = (await (await fetch(`${url}/openapi.json`, { headers: { "x-api-key": "k-1" } })).json()) as {
      security?: unknown[];
      paths: Record<string, Record<string, { security?: unknown[] }>>;
    };
    expect(doc.security).toEqual([{ bearer: [] }, { apiKey: [] }]);
    expect(doc.paths["/health"]?.get?.security).toEqual([]);
  });
});

// break13 F2: 8 wrong keys on a gateway limited to 6/min answered 401 x8, never 429.
describe("gateway: failed authentication throttled per client address", () => {
  it("answers 429 with Retry-After after N failures, to any key from that address, and lets it retry later", async () => {
    let now = 1_000_000;
    const gw = await harness.start({ apiKeys: ["k-1"], authFailuresPerMinute: 3, monotonicNow: () => now });
    const upstream = await harness.upstream("order", "order-a");
    const guess = (key: string) => fetch(`${harness.gw.url}/orders/o-1`, { headers: { "x-api-key": key } });
    const statuses = [];
    for (const key of ["guess-1", "guess-2", "guess-3", "guess-4"]) statuses.push((await guess(key)).status);
    expect(statuses).toEqual([401, 401, 401, 429]);
    // The right key is refused too while the address is throttled: otherwise guessing goes on.
    const blocked = await guess("k-1");
    expect(blocked.status).toBe(429);
    expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    expect(blocked.headers.get("retry-after")).toBe("20");
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    expect(upstream.hits).toHaveLength(0);
    now += 20_000;
    expect((await guess("k-1")).status).toBe(200);
    expect((await guess("guess-5")).status).toBe(401);
    expect((await guess("guess-6")).status).toBe(429);
  });

  it("is off with 0, and absent in development (no key configured)", async () => {
    const gw = await harness.start({ apiKeys: ["k-1"], authFailuresPerMinute: 0 });
    for (let i = 0; i < 15; i += 1) {
      expect((await fetch(`${gw.url}/services`, { headers: { "x-api-key": `g-${i}` } })).status).toBe(401);
    }
  });
});

// proxy9: behind a load balancer every client shared the balancer's address, so one client sending
// a wrong key locked every client out (429 with a right key).
describe("gateway: the failed-authentication throttle behind a proxy (GATEWAY_TRUST_PROXY)", () => {
  /** A request to the gateway as the proxy on loopback would send it: `forwardedFor` as it wrote it. */
  const via = (key: string, forwardedFor: string) =>
    fetch(`${harness.gw.url}/orders/o-1`, { headers: { "x-api-key": key, "x-forwarded-for": forwardedFor } });

  it("throttles each client behind a trusted proxy by its own X-Forwarded-For address", async () => {
    await harness.start({ apiKeys: ["k-1"], authFailuresPerMinute: 2, trustProxy: ["127.0.0.1"] });
    await harness.upstream("order", "order-a");
    expect((await via("guess-1", "203.0.113.1")).status).toBe(401);
    expect((await via("guess-2", "203.0.113.1")).status).toBe(401);
    expect((await via("k-1", "203.0.113.1")).status).toBe(429);
    // Another client behind the same proxy keeps its own budget.
    expect((await via("k-1", "203.0.113.2")).status).toBe(200);
    expect((await via("guess-3", "203.0.113.2")).status).toBe(401);
    expect((await via("k-1", "203.0.113.2")).status).toBe(200);
    // A client's own X-Forwarded-For entry, left of what the proxy appended, changes nothing.
    expect((await via("k-1", "198.51.100.9, 203.0.113.1")).status).toBe(429);
  });

  // edge20: an IPv6 client holds a whole /64 and took a new address for every guess.
  it("throttles the addresses of one IPv6 /64 together, an IPv4-mapped address with its IPv4 one", async () => {
    await harness.start({ apiKeys: ["k-1"], authFailuresPerMinute: 3, trustProxy: ["127.0.0.1"] });
    await harness.upstream("order", "order-a");
    expect((await via("guess-1", "2001:db8:a:b::1")).status).toBe(401);
    expect((await via("guess-2", "2001:db8:a:b:1:2:3:4")).status).toBe(401);
    expect((await via("guess-3", "2001:DB8:A:B:ffff::9")).status).toBe(401);
    expect((await via("k-1", "2001:db8:a:b::77")).status).toBe(429);
    // The next /64 is another client.
    expect((await via("k-1", "2001:db8:a:c::1")).status).toBe(200);
    expect((await via("guess-4", "203.0.113.5")).status).toBe(401);
    expect((await via("guess-5", "::ffff:203.0.113.5")).status).toBe(401);
    expect((await via("guess-6", "203.0.113.5")).status).toBe(401);
    expect((await via("k-1", "::ffff:203.0.113.5")).status).toBe(429);
    expect((await via("k-1", "203.0.113.6")).status).toBe(200);
  });

  it("ignores X-Forwarded-For from a peer that is not a listed proxy, and by default", async () => {
    for (const trustProxy of [["10.0.0.0/8", "fd00::/8"], undefined]) {
      await harness.start({
        apiKeys: ["k-1"],
        authFailuresPerMinute: 2,
        ...(trustProxy ? { trustProxy } : {}),
      });
      const upstream = await harness.upstream("order", "order-a");
      expect((await via("guess-1", "203.0.113.1")).status).toBe(401);
      expect((await via("guess-2", "203.0.113.2")).status).toBe(401);
      // Both guesses counted against the peer (127.0.0.1), whatever address each claimed.
      const blocked = await via("k-1", "203.0.113.3");
      expect(blocked.status, String(trustProxy)).toBe(429);
      expect(upstream.hits).toHaveLength(0);
      await harness.stopGateway();
    }
  });
});

describe("gateway: API key roles (client vs admin)", () => {
  const start = async () => {
    const gw = await harness.start({ apiKeys: ["client-1"], adminKeys: ["admin-1"] });
    upstream = await harness.upstream("inventory", "inventory-a");
    return gw.url;
  };
  const as = (key: string, init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { ...(init.headers as Record<string, string>), "x-api-key": key },
  });
  const json = { "content-type": "application/json" };

  it("answers 403 ADMIN_REQUIRED to a client key on catalog changes, restock, the DLQ, /services and /payments", async () => {
    const url = await start();
    const adminOnly: [string, string, unknown?][] = [
      ["POST", "/inventory", { productId: "p-1", name: "P", price: 100, quantity: 1 }],
      ["POST", "/inventory/p-1/restock", { quantity: 1 }],
      ["GET", "/dlq"],
      ["DELETE", "/dlq?olderThan=2020-01-01T00:00:00Z"],
      ["GET", "/services"],
      ["GET", "/services/inventory/health"],
      ["GET", "/payments/o-1"],
      ["GET", "/payments/reconciliation?limit=10"],
    ];
    for (const [method, path, body] of adminOnly) {
      const init: RequestInit =
        body === undefined ? { method } : { method, headers: json, body: JSON.stringify(body) };
      const res = await fetch(`${url}${path}`, as("client-1", init));
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ADMIN_REQUIRED");
    }
    expect(upstream?.hits).toHaveLength(0);
  });

  it("lets an admin key do those, and a client key use the business routes", async () => {
    const url = await start();
    const restock = await fetch(
      `${url}/inventory/p-1/restock`,
      as("admin-1", { method: "POST", headers: json, body: JSON.stringify({ quantity: 1 }) }),
    );
    expect(restock.status).toBe(200);
    expect((await fetch(`${url}/services`, as("admin-1"))).status).toBe(200);
    expect((await fetch(`${url}/dlq`, as("admin-1"))).status).toBe(200);
    // No payment instance here: past the role check, the gateway finds nothing to proxy to.
    expect((await fetch(`${url}/payments/o-1`, as("admin-1"))).status).toBe(503);
    expect((await fetch(`${url}/inventory`, as("client-1"))).status).toBe(200);
    expect((await fetch(`${url}/inventory/p-1`, as("client-1"))).status).toBe(200);
  });

  it("scopes Idempotency-Keys per API key: the key's digest prefix goes to the service, never the key", async () => {
    const url = await start();
    await fetch(`${url}/inventory`, as("client-1"));
    await fetch(`${url}/inventory`, as("admin-1"));
    const clients = upstream!.hits.map((h) => h.headers["x-ordersaga-client"]);
    expect(clients[0]).toMatch(/^api-key:[0-9a-f]{8}$/);
    expect(clients[1]).toMatch(/^api-key:[0-9a-f]{8}$/);
    expect(clients[0]).not.toBe(clients[1]);
    expect(JSON.stringify(upstream!.hits.map((h) => h.headers))).not.toMatch(/client-1|admin-1/);
  });
});

describe("gateway: shipment routes are admin-only", () => {
  const start = async () => {
    const gw = await harness.start({ apiKeys: ["client-1"], adminKeys: ["admin-1"] });
    upstream = await harness.upstream("shipping", "shipping-a");
    return gw.url;
  };
  const operatorCalls: [string, string][] = [
    ["GET", "/shipments/parked?limit=10"],
    ["GET", "/shipments/o-1"],
    ["POST", "/shipments/o-1/requeue"],
  ];

  it("answers 403 ADMIN_REQUIRED to a client key on the parked list, a shipment and the re-queue, before proxying", async () => {
    const url = await start();
    for (const [method, path] of operatorCalls) {
      const res = await fetch(`${url}${path}`, { method, headers: { "x-api-key": "client-1" } });
      expect(res.status, `${method} ${path}`).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("ADMIN_REQUIRED");
    }
    expect(upstream?.hits).toHaveLength(0);
  });

  it("proxies each to the shipping service for an admin key, path and query unchanged", async () => {
    const url = await start();
    for (const [method, path] of operatorCalls) {
      const res = await fetch(`${url}${path}`, { method, headers: { "x-api-key": "admin-1" } });
      expect(res.status, `${method} ${path}`).toBe(200);
    }
    expect(upstream?.hits.map((h) => `${h.method} ${h.url}`)).toEqual([
      "GET /shipments/parked?limit=10",
      "GET /shipments/o-1",
      "POST /shipments/o-1/requeue",
    ]);
  });

  // break34 F3: the shipment read is an operator's too (a client follows its order's status and history).
  it("flags every shipment route the gateway serves as admin, by its template", () => {
    expect(isAdminRoute("GET", "/shipments/parked")).toBe(true);
    expect(isAdminRoute("GET", "/shipments/:orderId")).toBe(true);
    expect(isAdminRoute("POST", "/shipments/:orderId/requeue")).toBe(true);
  });
});

describe("gateway: per-key rate limit", () => {
  it("answers 429 RATE_LIMITED with Retry-After once a key spent its burst, other keys unaffected", async () => {
    await harness.start({ apiKeys: ["k-1", "k-2"], rateLimit: { perMinute: 60, burst: 3 } });
    const upstream = await harness.upstream("order", "order-a");
    const get = (key: string) => fetch(`${harness.gw.url}/orders/o-1`, { headers: { "x-api-key": key } });
    for (let i = 0; i < 3; i++) expect((await get("k-1")).status).toBe(200);
    const limited = await get("k-1");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    expect((await get("k-2")).status).toBe(200);
    expect(upstream.hits).toHaveLength(4);
  });

  it("does not limit anyone when no key is configured (development)", async () => {
    const gw = await harness.start({ rateLimit: { perMinute: 60, burst: 1 } });
    await harness.upstream("order", "order-a");
    for (let i = 0; i < 5; i++) expect((await fetch(`${gw.url}/orders/o-1`)).status).toBe(200);
  });
});
