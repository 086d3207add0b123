import { expect, it } from "vitest";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import type { ServiceInstance } from "../lib/discovery/types.js";
import { UpstreamProxy } from "./proxy.js";

const instance = (instanceId: string): ServiceInstance => ({
  service: "order",
  instanceId,
  address: "127.0.0.1",
  port: 1,
  version: "1.0.0",
  startedAt: new Date(0).toISOString(),
  lastHeartbeat: new Date(0).toISOString(),
  status: "healthy",
  consecutiveFailures: 0,
});

it("reports the breakers of instances no longer registered when it drops them", () => {
  const dropped: string[] = [];
  const proxy = new UpstreamProxy({
    registry: new MemoryServiceRegistry(),
    onBreakerDropped: (breaker) => dropped.push(breaker),
  });
  const [gone, live] = [instance("order-1"), instance("order-2")];
  const goneBreaker = proxy.breakerFor(gone).name;
  proxy.breakerFor(live);
  proxy.retain([live]);
  expect(dropped).toEqual([goneBreaker]);
  proxy.retain([live]);
  expect(dropped).toHaveLength(1);
});
