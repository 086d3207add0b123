/** Review finding 11: the demo's client can send an API key, so it runs against a gateway with keys. */
import { afterEach, describe, expect, it } from "vitest";
import {
  startTestGateway,
  startTestUpstream,
  type TestGateway,
  type TestUpstream,
} from "../gateway/test-upstream.js";
import { createApiClient } from "./client.js";

let gw: TestGateway | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await upstream?.close();
  await gw?.stop();
  gw = undefined;
  upstream = undefined;
});

describe("demo API client", () => {
  it("sends its API key on every call, so a gateway with keys lets it in (restock needs an admin key)", async () => {
    gw = await startTestGateway({ apiKeys: ["client-key-1"], adminKeys: ["demo-key-1"] });
    upstream = await startTestUpstream(gw.registry, "inventory", "inv-a");
    expect((await createApiClient(gw.url).get("/inventory")).status).toBe(401);
    const api = createApiClient(gw.url, { apiKey: "demo-key-1" });
    expect((await api.get("/inventory")).status).toBe(200);
    expect((await api.post("/inventory/p-1/restock", { quantity: 1 })).status).toBe(200);
    const client = createApiClient(gw.url, { apiKey: "client-key-1" });
    expect((await client.post("/inventory/p-1/restock", { quantity: 1 })).status).toBe(403);
  });
});
