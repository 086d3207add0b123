import { afterEach, describe, expect, it } from "vitest";
import { startTestGateway, startTestUpstream, type TestGateway, type TestUpstream } from "./test-upstream.js";

let gw: TestGateway | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await upstream?.close();
  await gw?.stop();
  gw = undefined;
  upstream = undefined;
});

async function withKeys(apiKeys: string[]) {
  gw = await startTestGateway({ apiKeys });
  upstream = await startTestUpstream(gw.registry, "order", "order-a");
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
