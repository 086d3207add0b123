/**
 * clocksync9: a service answers 403 GATEWAY_AUTH_INVALID before reading the request (it did
 * nothing), so the gateway, after re-syncing its signing clock, re-signs and resends the call once,
 * whatever its method: a POST that is not safe to repeat after it may have applied is safe here.
 */
import { afterEach, describe, expect, it } from "vitest";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import { GATEWAY_AUTH_HEADER } from "../lib/http/gateway-credential.js";
import { UpstreamProxy } from "./proxy.js";
import { startTestUpstream, type TestUpstream } from "./test-upstream.js";

const refusal = {
  status: 403,
  body: { error: { code: "GATEWAY_AUTH_INVALID", message: "Gateway credential expired: call the gateway" } },
};

describe("the gateway's call refused for its credential", () => {
  let upstream: TestUpstream | undefined;
  let proxy: UpstreamProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  async function setUp(answers: (typeof refusal | { status: number; body: unknown })[]) {
    const registry = new MemoryServiceRegistry();
    upstream = await startTestUpstream(registry, "order", "order-a", () => answers.shift() ?? refusal);
    let clockMs = 1_700_000_000_000;
    const resyncs: number[] = [];
    proxy = new UpstreamProxy({
      registry,
      sharedSecret: "s".repeat(64),
      signingClock: () => clockMs,
      resyncSigningClock: async () => {
        resyncs.push(clockMs);
        clockMs -= 60_000; // the gateway follows the step the service followed first
      },
    });
    return { upstream, proxy, resyncs };
  }

  it("re-syncs, re-signs and resends it once, a POST too, and answers what the service then answers", async () => {
    const { upstream, proxy, resyncs } = await setUp([refusal, { status: 201, body: { ok: true } }]);
    const res = await proxy.forward("order", {
      method: "POST",
      path: "/orders/o-1/cancel",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(201);
    expect(upstream.hits).toHaveLength(2);
    expect(resyncs).toHaveLength(1);
    const [first, second] = upstream.hits.map((hit) => String(hit.headers[GATEWAY_AUTH_HEADER]));
    expect(second).not.toBe(first);
    expect(second!.split(".")[1]).toBe(String(resyncs[0]! - 60_000));
  });

  it("answers 502 BAD_GATEWAY, never the service's 403, when the only instance refuses the resend too (no more resends)", async () => {
    const { upstream, proxy, resyncs } = await setUp([refusal, refusal, refusal]);
    // The client called the gateway: GATEWAY_AUTH_INVALID is the gateway's problem (break17 F1).
    await expect(
      proxy.forward("order", { method: "GET", path: "/orders/o-1", headers: {} }),
    ).rejects.toMatchObject({ code: "BAD_GATEWAY", message: expect.stringMatching(/secret differs/) });
    expect(upstream.hits).toHaveLength(2);
    expect(resyncs).toHaveLength(1);
  });
});
