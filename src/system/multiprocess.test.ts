/**
 * The system as it runs in production: every service its own process over a real Redis, the
 * gateway in front. The demo scenarios, load sharing between two instances, an instance killed
 * under the gateway, and a service killed mid-saga.
 */
import { randomUUID } from "node:crypto";
import { expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import { runScenarios } from "../demo/scenarios.js";
import { describeWithRedis, freePort } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { type LaunchedSystem, launch, type ProcessSpec, planProcesses } from "./launcher.js";

interface Instance {
  instanceId: string;
  address: string;
  port: number;
}

describeWithRedis("every service as its own process over Redis", (getRedis) => {
  let system: LaunchedSystem | undefined;
  let specs: ProcessSpec[] = [];
  let gatewayUrl = "";
  const logs: string[] = [];
  const extra: LaunchedSystem[] = [];

  const instancesOf = async (service: string): Promise<Instance[]> => {
    const res = await fetch(`${gatewayUrl}/services`);
    const body = (await res.json()) as { services: { name: string; instances: Instance[] }[] };
    return body.services.find((s) => s.name === service)?.instances ?? [];
  };

  it("starts, with two inventory instances registered", async () => {
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    specs = planProcesses({
      redisUrl: getRedis().url,
      instances: { inventory: 2 },
      gatewayPort: port,
      logLevel: "warn",
      anyPort: true,
      env: { HEARTBEAT_INTERVAL_MS: "1000", CLAIM_IDLE_MS: "2000" },
    });
    system = launch(specs, (line) => logs.push(line));
    const needed = { user: 1, order: 1, inventory: 2, payment: 1, shipping: 1, notification: 1 };
    await waitFor(
      async () => {
        for (const [name, count] of Object.entries(needed))
          if ((await instancesOf(name).catch(() => [])).length < count) return false;
        return true;
      },
      60_000,
      "all services registered",
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${logs.slice(-30).join("\n")}`);
    });
  }, 90_000);

  it("runs the five demo scenarios", async () => {
    const results = await runScenarios({
      api: createApiClient(gatewayUrl),
      runId: randomUUID().slice(0, 8),
      timeoutMs: 20_000,
    });
    for (const result of results) expect(result.failures, result.name).toEqual([]);
  }, 120_000);

  it("shares requests between the two inventory instances", async () => {
    const before = await instancesOf("inventory");
    const counts = async () =>
      Promise.all(
        before.map(async (i) => {
          const text = await (await fetch(`http://${i.address}:${i.port}/metrics`)).text();
          return [
            ...text.matchAll(/^ordersaga_http_requests_total\{[^}]*route="\/inventory"[^}]*\} (\d+)/gm),
          ].reduce((n, m) => n + Number(m[1]), 0);
        }),
      );
    const start = await counts();
    for (let i = 0; i < 20; i++) expect((await fetch(`${gatewayUrl}/inventory`)).status).toBe(200);
    const end = await counts();
    expect(end.map((n, i) => n - start[i]!).every((d) => d > 0)).toBe(true);
  }, 30_000);

  it("keeps serving without a failed request when one inventory instance is killed", async () => {
    const [victim] = await instancesOf("inventory");
    const child = [...system!.children.entries()].find(([label]) => label.startsWith("inventory"))!;
    // Which process is which instance does not matter: kill one and every request must still succeed.
    child[1].kill("SIGKILL");
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await fetch(`${gatewayUrl}/inventory`)).status);
    expect(
      statuses.every((s) => s === 200),
      `statuses ${statuses.join(",")} (killed ${victim?.instanceId})`,
    ).toBe(true);
  }, 30_000);

  it("finishes every order when the payment service dies mid-saga and comes back", async () => {
    const api = createApiClient(gatewayUrl);
    const user = await api.post<{ id: string }>("/users", {
      email: `mp-${randomUUID()}@example.com`,
      name: "Crash Test",
    });
    const productId = `prod-${randomUUID().slice(0, 8)}`;
    await api.post("/inventory", { productId, name: "crash", price: 100, quantity: 100 });
    const payment = [...system!.children.entries()].find(([label]) => label === "payment")!;
    payment[1].kill("SIGKILL");
    const orderIds: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await api.post<{ orderId: string }>("/orders", {
        userId: user.body.id,
        items: [{ productId, quantity: 1 }],
        payment: { token: "tok_ok" },
      });
      orderIds.push(res.body.orderId);
    }
    const spec = specs.find((s) => s.label === "payment")!;
    extra.push(launch([spec], (line) => logs.push(line)));
    const final = await Promise.all(
      orderIds.map((id) =>
        waitFor(
          async () => {
            const res = await api.get<{ status: string }>(`/orders/${id}`);
            return ["shipped", "delivered", "failed", "cancelled"].includes(res.body.status)
              ? res.body.status
              : undefined;
          },
          45_000,
          `order ${id} terminal`,
        ),
      ),
    );
    expect(final.filter((s) => s === "shipped" || s === "delivered")).toHaveLength(10);
  }, 90_000);

  it("stops every process gracefully", async () => {
    await Promise.all([system?.stop(), ...extra.map((e) => e.stop())]);
    expect([...system!.children.values()].every((c) => c.exitCode !== null || c.signalCode !== null)).toBe(
      true,
    );
  }, 30_000);
});
