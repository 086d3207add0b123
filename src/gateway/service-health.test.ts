import { describe, expect, it } from "vitest";
import type { ServiceInstance } from "../lib/discovery/types.js";
import { aggregateHealth, serviceHealth } from "./service-health.js";

const instance = (instanceId: string): ServiceInstance => ({
  service: "user",
  instanceId,
  address: "127.0.0.1",
  port: 1,
  version: "1.0.0",
  startedAt: "2024-01-01T00:00:00.000Z",
  lastHeartbeat: "2024-01-01T00:00:00.000Z",
  status: "healthy",
  consecutiveFailures: 0,
});

describe("service health", () => {
  it("is healthy when all answer, degraded when some do, unavailable when none or no instance", () => {
    expect(aggregateHealth(["healthy", "healthy"])).toBe("healthy");
    expect(aggregateHealth(["healthy", "unhealthy"])).toBe("degraded");
    expect(aggregateHealth(["unhealthy"])).toBe("unavailable");
    expect(aggregateHealth([])).toBe("unavailable");
  });

  it("reports each instance's answer, its own health body, latency and failure detail", async () => {
    let t = 0;
    const now = () => (t += 5);
    const get = async (i: ServiceInstance) => {
      if (i.instanceId === "c") throw new Error("connect ECONNREFUSED");
      const status = i.instanceId === "a" ? 200 : 503;
      return {
        status,
        headers: {},
        body: Buffer.from(
          JSON.stringify({
            service: "user",
            instanceId: i.instanceId,
            status: status === 200 ? "ok" : "down",
          }),
        ),
      };
    };
    const report = await serviceHealth("user", [instance("a"), instance("b"), instance("c")], get, now);
    expect(report.status).toBe("degraded");
    expect(report.instances.map((r) => [r.instanceId, r.status, r.httpStatus])).toEqual([
      ["a", "healthy", 200],
      ["b", "unhealthy", 503],
      ["c", "unhealthy", undefined],
    ]);
    expect(report.instances[0]?.health).toEqual({ service: "user", instanceId: "a", status: "ok" });
    expect(report.instances[2]?.detail).toContain("ECONNREFUSED");
    expect(report.instances.every((r) => r.latencyMs > 0)).toBe(true);
  });

  it("counts a 2xx from another instance or service at the registered address as unhealthy", async () => {
    // A process that took a dead instance's port answers 2xx too (it may be another system's).
    const get = async (i: ServiceInstance) => ({
      status: 200,
      headers: {},
      body: Buffer.from(
        JSON.stringify(
          i.instanceId === "a"
            ? { service: "user", instanceId: "someone-else", status: "ok" }
            : { service: "inventory", instanceId: i.instanceId, status: "ok" },
        ),
      ),
    });
    const report = await serviceHealth("user", [instance("a"), instance("b")], get, () => 0);
    expect(report.status).toBe("unavailable");
    expect(report.instances.map((r) => [r.instanceId, r.status])).toEqual([
      ["a", "unhealthy"],
      ["b", "unhealthy"],
    ]);
    expect(report.instances[0]?.detail).toContain("someone-else");
  });
});
