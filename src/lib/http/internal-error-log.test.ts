/**
 * Break10 F2: a 500 INTERNAL is logged by the service or gateway that answered it (the README says
 * "logged with the request's correlation id"): the error, the client's correlation id (as
 * `clientCorrelationId`: a saga's `correlationId` is the service's own, break35 F5) and trace ids,
 * the method and route; never the request's body or header values.
 */
import { Writable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createGateway, type Gateway } from "../../gateway/gateway.js";
import { defineEvents } from "../bus/events.js";
import type { ServiceRegistry } from "../discovery/types.js";
import { createLogger } from "../observability/logger.js";
import { createMemoryPlatform, type Platform } from "../runtime/platform.js";
import { type RunningService, startService } from "../runtime/service-host.js";

const NoEvents = defineEvents("crashy", {
  "crashy.nothing": { schema: z.object({}), description: "unused" },
});

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n").filter(Boolean))
        lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: (service: string) => createLogger({ service, level: "info", destination }) };
}

const correlationId = "corr-f2-0001";
const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
const headers = {
  "x-correlation-id": correlationId,
  traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
  "content-type": "application/json",
  "x-api-key": "k-secret-value",
};

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

describe("a 500 INTERNAL", () => {
  it("is logged by a service with the correlation id, trace id and route, without the body", async () => {
    const platform: Platform = createMemoryPlatform();
    stops.push(() => platform.close());
    const { lines, logger } = capture();
    const service: RunningService = await startService(
      {
        name: "crashy",
        version: "1.0.0",
        create: () => ({
          routes: (app) =>
            app.post("/boom/:id", async () => {
              throw new Error("database on fire");
            }),
        }),
      },
      { events: NoEvents, platform, port: 0, logger: logger("crashy") },
    );
    stops.push(() => service.stop());
    const res = await fetch(`${service.url}/boom/42`, {
      method: "POST",
      headers,
      body: JSON.stringify({ card: "4111-body-secret" }),
    });
    expect(res.status).toBe(500);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("INTERNAL");
    const line = lines.find((l) => l.msg === "request failed");
    expect(line, JSON.stringify(lines)).toMatchObject({
      level: "error",
      clientCorrelationId: correlationId,
      trace_id: traceId,
      method: "POST",
      route: "/boom/:id",
      status: 500,
      err: expect.objectContaining({ message: "database on fire" }),
    });
    const text = JSON.stringify(lines);
    expect(text).not.toContain("4111-body-secret");
    expect(text).not.toContain("k-secret-value");
  });

  it("is logged by the gateway with the correlation id", async () => {
    const platform: Platform = createMemoryPlatform();
    stops.push(() => platform.close());
    const { lines, logger } = capture();
    const broken: ServiceRegistry = new Proxy(platform.registry, {
      get(target, property, receiver) {
        if (property === "list" || property === "services")
          return async () => {
            throw new Error("registry exploded");
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const gateway: Gateway = await createGateway({
      platform,
      registry: broken,
      port: 0,
      logger: logger("gateway"),
      healthCheckIntervalMs: 0,
    });
    stops.push(() => gateway.stop());
    const res = await fetch(`${gateway.url}/services`, { headers });
    expect(res.status).toBe(500);
    const line = lines.find((l) => l.msg === "request failed");
    expect(line, JSON.stringify(lines)).toMatchObject({
      level: "error",
      clientCorrelationId: correlationId,
      route: "/services",
      err: expect.objectContaining({ message: "registry exploded" }),
    });
    expect(JSON.stringify(lines)).not.toContain("k-secret-value");
  });
});

// Newuser9 F7: an expected 503 (no live instance) was logged at error with a stack and retryable:false.
describe("a 503 SERVICE_UNAVAILABLE (no instance up)", () => {
  it("is logged by the gateway at warn, without a stack, retryable, once for a burst of requests", async () => {
    const platform: Platform = createMemoryPlatform();
    stops.push(() => platform.close());
    const { lines, logger } = capture();
    const gateway: Gateway = await createGateway({
      platform,
      port: 0,
      logger: logger("gateway"),
      healthCheckIntervalMs: 0,
    });
    stops.push(() => gateway.stop());
    for (let i = 0; i < 3; i += 1) {
      const res = await fetch(`${gateway.url}/inventory/prod-mouse`, { headers });
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("1");
    }
    const failed = lines.filter((l) => l.msg === "request failed");
    expect(failed, JSON.stringify(lines)).toEqual([
      expect.objectContaining({
        level: "warn",
        code: "SERVICE_UNAVAILABLE",
        peerService: "inventory",
        retryable: true,
        clientCorrelationId: correlationId,
        status: 503,
      }),
    ]);
    expect(failed[0]).not.toHaveProperty("err");
    expect(JSON.stringify(lines)).not.toContain("stack");
  });
});
