/** Review finding 11: the breaker series of a deregistered instance leave the gateway's /metrics. */
import { describe, expect, it } from "vitest";
import { waitFor } from "../test-support/wait.js";
import { useTestGateway } from "./test-upstream.js";

const harness = useTestGateway();

const metricsText = async () => (await fetch(`${harness.gw.url}/metrics`)).text();

describe("gateway breaker metrics", () => {
  it("shows a registered instance's breaker as closed before any call or change (break13 F11)", async () => {
    await harness.start({ healthCheckIntervalMs: 100 });
    const upstream = await harness.upstream("inventory", "inv-b", () => ({ status: 200, body: {} }));
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
    const gw = await harness.start({
      breaker: { failureThreshold: 1 },
      // Pruning runs with the checker's period; the checker finds this instance healthy.
      healthCheckIntervalMs: 100,
    });
    await harness.upstream("inventory", "inv-a", () => ({
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
