import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startHealthChecker } from "./health-checker.js";
import { MemoryServiceRegistry } from "./memory-registry.js";
import { instance } from "./registry-contract.js";
import type { ServiceInstance } from "./types.js";

type Mode = "ok" | "error" | "silent";

/** Who the fake says it is in its /health answer (as service hosts do). */
interface Identity {
  service: string;
  instanceId: string;
}

interface FakeService {
  port: number;
  mode: Mode;
  identity: Identity;
  close(): Promise<void>;
}

async function startFakeService(mode: Mode, identity: Identity): Promise<FakeService> {
  const server: Server = createServer((req, res) => {
    if (fake.mode === "silent") return; // accepts the request, never answers
    res.statusCode = req.url === "/health" && fake.mode === "ok" ? 200 : 500;
    res.end(JSON.stringify({ status: fake.mode, ...fake.identity }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const fake: FakeService = {
    port: (server.address() as AddressInfo).port,
    mode,
    identity,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return fake;
}

const events = () => {
  const list: { event: string; payload: Record<string, unknown> }[] = [];
  const publish = async (event: string, payload: Record<string, unknown>) => {
    list.push({ event, payload });
  };
  return { list, publish, named: (e: string) => list.filter((x) => x.event === e).map((x) => x.payload) };
};

describe("HealthChecker", () => {
  let registry: MemoryServiceRegistry;
  let fakes: FakeService[];
  const TTL = 600_000;

  const serve = async (id: string, mode: Mode): Promise<FakeService> => {
    const fake = await startFakeService(mode, { service: "orders", instanceId: id });
    fakes.push(fake);
    await registry.register(instance("orders", id, { port: fake.port }), TTL);
    return fake;
  };
  // A generous timeout: an answering fake must never be counted as timed out on a loaded machine.
  // The tests of the timeout itself pass their own short one.
  const options = { timeoutMs: 10_000, unhealthyThreshold: 3, intervalMs: 3_600_000 };
  const timingOut = { ...options, timeoutMs: 200 };

  beforeEach(() => {
    registry = new MemoryServiceRegistry();
    fakes = [];
  });
  afterEach(async () => {
    await Promise.all(fakes.map((f) => f.close()));
  });

  it("keeps a healthy instance registered as healthy and announces its status", async () => {
    await serve("o-1", "ok");
    const { publish, named } = events();
    const checker = startHealthChecker({ registry, publish, ...options });
    await checker.runOnce();
    await checker.runOnce();
    await checker.stop();
    expect(await registry.get("orders", "o-1")).toMatchObject({ status: "healthy", consecutiveFailures: 0 });
    expect(named("service.health.status")).toHaveLength(2);
    expect(named("service.health.status")[0]).toMatchObject({ instanceId: "o-1", status: "healthy" });
    expect(named("service.deregistered")).toEqual([]);
  });

  it("marks an instance answering 500 unhealthy, then deregisters it at the threshold", async () => {
    await serve("o-1", "ok");
    await serve("o-2", "error");
    const { publish, named } = events();
    const checker = startHealthChecker({ registry, publish, ...options });
    const [, first] = await checker.runOnce();
    expect(first).toMatchObject({
      instanceId: "o-2",
      status: "unhealthy",
      consecutiveFailures: 1,
      detail: "HTTP 500",
    });
    await checker.runOnce();
    expect(await registry.get("orders", "o-2")).toMatchObject({
      status: "unhealthy",
      consecutiveFailures: 2,
    });
    await checker.runOnce();
    await checker.stop();
    expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-1"]);
    expect(named("service.deregistered")).toEqual([
      { service: "orders", instanceId: "o-2", reason: "health_check_failed" },
    ]);
  });

  it("counts an instance that does not answer within the timeout as failing", async () => {
    await serve("o-1", "silent");
    const checker = startHealthChecker({ registry, ...timingOut });
    const [outcome] = await checker.runOnce();
    expect(outcome).toMatchObject({ status: "unhealthy", consecutiveFailures: 1 });
    expect(outcome?.detail).toMatch(/time/i);
    await checker.runOnce();
    await checker.runOnce();
    await checker.stop();
    expect(await registry.list("orders")).toEqual([]);
  });

  it("counts a refused connection as failing", async () => {
    const gone = await serve("o-1", "ok");
    await gone.close();
    const checker = startHealthChecker({ registry, ...options });
    const [outcome] = await checker.runOnce();
    await checker.stop();
    expect(outcome).toMatchObject({ status: "unhealthy", consecutiveFailures: 1 });
    expect(outcome?.detail).toMatch(/ECONNREFUSED/);
  });

  it("marks an instance healthy again when it recovers before the threshold, restarting the count", async () => {
    const flaky = await serve("o-1", "error");
    const checker = startHealthChecker({ registry, ...options });
    await checker.runOnce();
    await checker.runOnce();
    flaky.mode = "ok";
    await checker.runOnce();
    expect(await registry.get("orders", "o-1")).toMatchObject({ status: "healthy", consecutiveFailures: 0 });
    flaky.mode = "error";
    await checker.runOnce();
    await checker.runOnce();
    await checker.stop();
    expect(await registry.get("orders", "o-1")).toMatchObject({
      status: "unhealthy",
      consecutiveFailures: 2,
    });
  });

  it("stays harmless when several checkers watch the same registry", async () => {
    await serve("o-1", "error");
    const { publish, named } = events();
    const checkers = [1, 2].map(() => startHealthChecker({ registry, publish, ...options }));
    const round = () => Promise.all(checkers.map((c) => c.runOnce()));
    await round();
    await round();
    // Two checkers did four checks, but each saw only two failures in a row: not yet at the threshold.
    expect(await registry.get("orders", "o-1")).toMatchObject({ consecutiveFailures: 2 });
    await round();
    await Promise.all(checkers.map((c) => c.stop()));
    expect(await registry.list()).toEqual([]);
    expect(named("service.deregistered")).toHaveLength(1);
  });

  it("uses a custom check, bounded by the timeout, and counts a throwing check as a failure", async () => {
    await registry.register(instance("orders", "o-1"), TTL);
    await registry.register(instance("orders", "o-2"), TTL);
    await registry.register(instance("payment", "p-1"), TTL);
    const check = async (i: ServiceInstance) => {
      if (i.instanceId === "o-2") throw new Error("boom");
      if (i.service === "payment") return new Promise<never>(() => {});
      return { ok: true };
    };
    const checker = startHealthChecker({ registry, check, ...timingOut });
    const outcomes = await checker.runOnce();
    await checker.stop();
    expect(outcomes.map((o) => [o.instanceId, o.status, o.detail])).toEqual([
      ["o-1", "healthy", undefined],
      ["o-2", "unhealthy", "boom"],
      ["p-1", "unhealthy", "timed out after 200 ms"],
    ]);
  });

  it("deregisters at once an address that answers 200 as another service or instance", async () => {
    const taken = await serve("o-1", "ok");
    const other = await serve("o-2", "ok");
    taken.identity = { service: "orders", instanceId: "o-9-other-system" };
    other.identity = { service: "payment", instanceId: "o-2" };
    await serve("o-3", "ok");
    const { publish, named } = events();
    const checker = startHealthChecker({ registry, publish, ...options });
    const outcomes = await checker.runOnce();
    await checker.stop();
    expect(outcomes.map((o) => [o.instanceId, o.status, o.deregistered])).toEqual([
      ["o-1", "unhealthy", true],
      ["o-2", "unhealthy", true],
      ["o-3", "healthy", false],
    ]);
    expect(outcomes[0]?.detail).toMatch(/o-9-other-system/);
    expect((await registry.list("orders")).map((i) => i.instanceId)).toEqual(["o-3"]);
    expect(named("service.deregistered").map((p) => p.instanceId)).toEqual(["o-1", "o-2"]);
  });

  it("runs rounds on its own interval until stopped", async () => {
    await serve("o-1", "error");
    const checker = startHealthChecker({ registry, ...options, intervalMs: 20, unhealthyThreshold: 2 });
    await vi.waitFor(async () => expect(await registry.list()).toEqual([]), {
      timeout: 10_000,
      interval: 20,
    });
    await checker.stop();
    await registry.register(instance("orders", "o-1", { port: fakes[0]?.port ?? 1 }), TTL);
    await new Promise((r) => setTimeout(r, 100));
    expect(await registry.get("orders", "o-1")).toMatchObject({ status: "healthy", consecutiveFailures: 0 });
  });
});
