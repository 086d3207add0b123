/**
 * Issue 10 input 8 over real HTTP: a dead instance is shown unhealthy within seconds (passively
 * from the proxy's refused connection, actively from the checker's default round), and a process
 * restarted at the same address replaces the dead entry instead of being listed beside it. A slow
 * one is not: a timeout is kept in the gateway that saw it (break17 F2).
 */
import { describe, expect, it } from "vitest";
import { startServiceAgent } from "../lib/discovery/agent.js";
import { waitFor } from "../test-support/wait.js";
import { DEFAULT_HEALTH_CHECK_INTERVAL_MS } from "./gateway.js";
import { useTestGateway } from "./test-upstream.js";

const harness = useTestGateway();

type Listed = { services: { name: string; instances: { instanceId: string; status: string }[] }[] };

async function listed(service: string): Promise<{ instanceId: string; status: string }[]> {
  const body = (await (await fetch(`${harness.gw.url}/services`)).json()) as Listed;
  return body.services.find((s) => s.name === service)?.instances ?? [];
}

const statusOf = async (service: string, instanceId: string) =>
  (await listed(service)).find((i) => i.instanceId === instanceId)?.status;

describe("health that tells the truth fast", () => {
  it("marks an instance unhealthy as soon as the proxy finds it refusing connections", async () => {
    const gw = await harness.start();
    const a = await harness.upstream("inventory", "inv-a");
    await harness.upstream("inventory", "inv-b");
    await a.close();
    for (let i = 0; i < 2; i++) expect((await fetch(`${gw.url}/inventory`)).status).toBe(200);
    await waitFor(
      async () => (await statusOf("inventory", "inv-a")) === "unhealthy",
      2_000,
      "inv-a unhealthy",
    );
    expect(await statusOf("inventory", "inv-b")).toBe("healthy");
  });

  it("marks an idle dead instance unhealthy within one default health check round", async () => {
    expect(DEFAULT_HEALTH_CHECK_INTERVAL_MS).toBeLessThanOrEqual(5_000);
    await harness.start({ healthCheckIntervalMs: DEFAULT_HEALTH_CHECK_INTERVAL_MS });
    const a = await harness.upstream("inventory", "inv-a");
    await a.close();
    await waitFor(
      async () => (await statusOf("inventory", "inv-a")) === "unhealthy",
      DEFAULT_HEALTH_CHECK_INTERVAL_MS * 2 + 2_000,
      "inv-a unhealthy",
    );
  });

  it("replaces the dead entry when a new process registers at the same address and port", async () => {
    const gw = await harness.start();
    const dead = await harness.upstream("inventory", "inv-old");
    await dead.close();
    const agent = await startServiceAgent({
      registry: gw.registry,
      instance: {
        service: "inventory",
        instanceId: "inv-new",
        address: "127.0.0.1",
        port: dead.instance.port,
        version: "1.0.0",
      },
    });
    try {
      expect((await listed("inventory")).map((i) => i.instanceId)).toEqual(["inv-new"]);
    } finally {
      await agent.stop();
    }
  });

  it("resends a GET that timed out on a frozen instance to another one, and avoids it here without marking it in the shared registry", async () => {
    const gw = await harness.start({ upstreamTimeoutMs: 2_000 });
    const frozen = await harness.upstream("inventory", "inv-frozen", () => ({
      status: 200,
      hang: true,
    }));
    await harness.upstream("inventory", "inv-good");
    // Round robin: the first GET meets the frozen instance, then both go to the good one within
    // their budget (the frozen one is avoided by this gateway for a few seconds).
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/inventory/p-1`);
      expect(res.status).toBe(200);
      expect(((await res.json()) as { servedBy: string }).servedBy).toBe("inv-good");
    }
    expect(frozen.hits).toHaveLength(1);
    // A timeout is one gateway's view, no proof of death: every gateway reads the registry, so the
    // status there is the health checker's to set (break17 F2: live instances were evicted).
    expect((await gw.registry.get("inventory", "inv-frozen"))?.status).toBe("healthy");
  });
});
