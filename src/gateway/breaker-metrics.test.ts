/** Review finding 11: the breaker series of a deregistered instance leave the gateway's /metrics. */
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../test-support/wait.js";
import { startTestGateway, startTestUpstream, type TestGateway, type TestUpstream } from "./test-upstream.js";

let gw: TestGateway | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await upstream?.close();
  await gw?.stop();
  gw = undefined;
  upstream = undefined;
});

const metricsText = async () => (await fetch(`${gw?.url}/metrics`)).text();

describe("gateway breaker metrics", () => {
  it("shows a registered instance's breaker as closed before any call or change (break13 F11)", async () => {
    gw = await startTestGateway({ healthCheckIntervalMs: 100 });
    upstream = await startTestUpstream(gw.registry, "inventory", "inv-b", () => ({ status: 200, body: {} }));
    await waitFor(
      async () =>
        /ordersaga_circuit_breaker_state\{[^}]*breaker="inventory:inv-b"[^}]*\} 0/.test(await metricsText()),
      10_000,
      "the closed breaker's series",
      50,
    );
    expect(upstream.hits.filter((h) => !h.url.startsWith("/health"))).toEqual([]);
    expect(await metricsText()).not.toMatch(/breaker="gateway:/);
  });

  it("drops the breaker series of an instance once it is deregistered", async () => {
    gw = await startTestGateway({
      breaker: { failureThreshold: 1 },
      // Pruning runs with the checker's period; the checker finds this instance healthy.
      healthCheckIntervalMs: 100,
    });
    upstream = await startTestUpstream(gw.registry, "inventory", "inv-a", () => ({
      status: 500,
      body: { error: { code: "INTERNAL", message: "boom" } },
    }));
    await fetch(`${gw.url}/inventory/p-1`);
    expect(await metricsText()).toMatch(
      /ordersaga_circuit_breaker_state\{[^}]*breaker="inventory:inv-a"[^}]*\} 2/,
    );
    await gw.registry.deregister("inventory", "inv-a");
    await waitFor(
      async () => !(await metricsText()).includes('breaker="inventory:inv-a"'),
      5_000,
      "series gone",
    );
  });
});
