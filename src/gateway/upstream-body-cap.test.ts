import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import { callUpstream, UpstreamBodyTooLargeError } from "./upstream-call.js";
import { useTestGateway } from "./test-upstream.js";

// break-gw F4: a proxied answer's body was collected without limit (memory = bandwidth × budget).

const CAP = 64 * 1024;
const opened: { server: Server; agent: Agent }[] = [];

afterEach(async () => {
  for (const { server, agent } of opened.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await agent.close();
  }
});
// Registered after: hooks run in reverse, so the gateway and its upstreams go first, as before.
const harness = useTestGateway();

describe("callUpstream body cap", () => {
  it("rejects with UpstreamBodyTooLargeError once the body passes the cap, long before the budget", async () => {
    // An endless body: without a cap only the budget would end the call.
    const server = createServer((_req, res) => {
      const chunk = Buffer.alloc(16 * 1024, 120);
      const pump = () => {
        while (res.write(chunk));
      };
      res.on("drain", pump);
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const agent = new Agent({ connections: 1 });
    opened.push({ server, agent });
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const started = Date.now();
    const call = callUpstream(
      agent,
      { origin, path: "/big", method: "GET", headers: {} },
      30_000,
      new Set(),
      CAP,
    );
    await expect(call).rejects.toBeInstanceOf(UpstreamBodyTooLargeError);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

describe("gateway body cap (UPSTREAM_MAX_BODY_BYTES)", () => {
  it("answers 502 UPSTREAM_BODY_TOO_LARGE, without resending or counting it against the instance", async () => {
    const gw = await harness.start({ upstreamMaxBodyBytes: CAP, breaker: { failureThreshold: 1 } });
    let size = CAP + 1;
    const started = await Promise.all(
      ["a", "b"].map((id) =>
        harness.upstream("inventory", `inv-${id}`, () => ({
          status: 200,
          headers: { "content-type": "text/plain" },
          body: "x".repeat(size),
        })),
      ),
    );
    const res = await fetch(`${gw.url}/inventory/p-1`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { error: { code: string; details: { maxBodyBytes: number } } };
    expect(body.error.code).toBe("UPSTREAM_BODY_TOO_LARGE");
    expect(body.error.details.maxBodyBytes).toBe(CAP);
    expect(started[0]!.hits.length + started[1]!.hits.length).toBe(1);
    for (const u of started) expect(gw.gateway.proxy.breakerFor(u.instance).state).toBe("CLOSED");
    // A body of exactly the cap is relayed whole.
    size = CAP;
    const ok = await fetch(`${gw.url}/inventory/p-1`);
    expect(ok.status).toBe(200);
    expect((await ok.text()).length).toBe(CAP);
  });
});
