/** Review finding 11: the demo's client can send an API key, so it runs against a gateway with keys. */
import { afterEach, describe, expect, it } from "vitest";
import {
  startTestGateway,
  startTestUpstream,
  type TestGateway,
  type TestUpstream,
} from "../gateway/test-upstream.js";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createApiClient, gatewayAccessProblem } from "./client.js";

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

describe("the demo against a gateway with API keys (new-user finding 6)", () => {
  it("says which key to pass before any scenario: none given, a client key, a refused key", async () => {
    gw = await startTestGateway({ apiKeys: ["client-key-1"], adminKeys: ["demo-key-1"] });
    expect(await gatewayAccessProblem(createApiClient(gw.url), false)).toMatch(
      /needs an API key: pass --api-key KEY .* or set GATEWAY_API_KEY, an admin key, one of the gateway's GATEWAY_ADMIN_API_KEYS/,
    );
    expect(await gatewayAccessProblem(createApiClient(gw.url, { apiKey: "client-key-1" }), true)).toMatch(
      /client key \(403 ADMIN_REQUIRED\): the demo needs an admin key/,
    );
    expect(await gatewayAccessProblem(createApiClient(gw.url, { apiKey: "nope" }), true)).toMatch(
      /refused the API key \(401 /,
    );
    expect(
      await gatewayAccessProblem(createApiClient(gw.url, { apiKey: "demo-key-1" }), true),
    ).toBeUndefined();
  });

  it("npm run demo -- --gateway <keyed gateway> without a key fails fast with that line, exit 1", async () => {
    gw = await startTestGateway({ apiKeys: ["client-key-1"], adminKeys: ["demo-key-1"] });
    const env = { ...process.env };
    delete env.GATEWAY_API_KEY;
    const child = spawn(process.execPath, ["--import", "tsx", "src/demo/main.ts", "--gateway", gw.url], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(output).toMatch(/The demo cannot run: this gateway needs an API key: pass --api-key KEY/);
    expect(output).not.toMatch(/PASS|FAIL/);
  }, 90_000);
});

describe("the demo's client under a rate limit (new-user finding F7)", () => {
  it("waits out a 429's Retry-After and sends the call again, instead of failing the scenario", async () => {
    let calls = 0;
    const server = createServer((req, res) => {
      calls += 1;
      if (calls === 1) {
        res.writeHead(429, { "retry-after": "1", "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "RATE_LIMITED", message: "slow down" } }));
        return;
      }
      res.writeHead(202, { "content-type": "application/json" });
      res.end(JSON.stringify({ orderId: "o-1" }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const answer = await createApiClient(`http://127.0.0.1:${port}`).post("/orders", { items: [] });
      expect(answer.status).toBe(202);
      expect(calls).toBe(2);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe("the demo's report of a scenario that threw (new-user finding F7)", () => {
  it("labels it by number and words, as the others are, not by function name", async () => {
    const { scenarioLabel, SCENARIOS } = await import("./scenarios.js");
    expect(scenarioLabel(1, SCENARIOS[1].name)).toBe("2. Successful order");
    expect(scenarioLabel(2, SCENARIOS[2].name)).toBe("3. Failed order with compensation");
  });
});

describe("the demo's report of a scenario that threw a network error", () => {
  it("names the cause fetch hides behind 'fetch failed' (the refused address), not only 'fetch failed'", async () => {
    const { errorWithCauses } = await import("../lib/runtime/launch-signal.js");
    // A port nothing listens on: bind one, note it, close it.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const error = await createApiClient(`http://127.0.0.1:${port}`)
      .get("/health")
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(Error);
    expect(errorWithCauses(error)).toMatch(
      new RegExp(`^fetch failed: .*ECONNREFUSED 127\\.0\\.0\\.1:${port}`),
    );
  });

  // break13 F5: an unreachable --gateway ran all five scenarios, printing "fetch failed" five times.
  it("npm run demo -- --gateway <unreachable> stops at once with one line naming the gateway, exit 1", async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const url = `http://127.0.0.1:${port}`;
    const env = { ...process.env };
    delete env.GATEWAY_API_KEY;
    const child = spawn(process.execPath, ["--import", "tsx", "src/demo/main.ts", "--gateway", url], {
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(1);
    expect(output).toMatch(
      new RegExp(`The demo cannot run: cannot reach the gateway at ${url} \\(fetch failed: .*ECONNREFUSED`),
    );
    expect(output.match(/fetch failed/g)).toHaveLength(1);
    expect(output).not.toMatch(/PASS|FAIL|passed/);
  }, 90_000);
});
