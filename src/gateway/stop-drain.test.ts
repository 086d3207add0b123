import { Agent, request } from "undici";
import { afterEach, expect, it } from "vitest";
import { createLogger } from "../lib/observability/logger.js";
import { createMemoryPlatform, type Platform } from "../lib/runtime/platform.js";
import { keepAliveLoad } from "../test-support/keep-alive-load.js";
import { createGateway, GATEWAY_DRAIN_ANSWER } from "./gateway.js";

// break18 F1: the gateway's stop called app.close(), which reset its kept-alive clients' requests
// (18 of 30 GET loops saw ECONNRESET) and answered others Fastify's bare 503.

let platform: Platform | undefined;
const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.destroy();
  await platform?.close();
  platform = undefined;
});

it("a gateway stopping under keep-alive load answers every request 200 or its drain 503 (error shape, Retry-After), none reset", async () => {
  platform = createMemoryPlatform();
  const gateway = await createGateway({
    platform,
    port: 0,
    logger: createLogger({ service: "gateway", level: "silent" }),
    healthCheckIntervalMs: 0,
  });
  const agent = new Agent({ connections: 30, pipelining: 1, keepAliveTimeout: 10_000 });
  agents.push(agent);
  // A client behind a load balancer: once this gateway said it is stopping, it goes elsewhere.
  const load = keepAliveLoad({
    clients: 30,
    send: () => request(`${gateway.url}/health`, { dispatcher: agent }),
    checkDrain: (text, headers) => {
      expect(text).toBe(GATEWAY_DRAIN_ANSWER.body);
      expect(headers["retry-after"]).toBe("1");
      expect(headers.connection).toBe("close");
    },
  });
  const { outcomes } = load;
  while (outcomes.length < 60) await new Promise((resolve) => setImmediate(resolve));
  load.stopping();
  const started = performance.now();
  await gateway.stop();
  const stopMs = performance.now() - started;
  await load.ended;
  // No request failed (an error's outcome is its code: ECONNRESET, UND_ERR_SOCKET).
  expect(outcomes.filter((o) => o !== "200" && o !== "drain")).toEqual([]);
  expect(outcomes).toContain("drain");
  expect(outcomes.every((o) => o === "200" || o === "drain")).toBe(true);
  // quiet 250 ms, linger ≤ 2 s, in flight ≤ 5 s: well under the 10 s force exit.
  expect(stopMs).toBeLessThan(8_000);
}, 30_000);
