import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { BusError } from "../bus/errors.js";
import { defineEvents } from "../bus/events.js";
import { describeWithRedis, externalRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { createMemoryPlatform, createRedisPlatform, type Platform } from "./platform.js";
import { DuplicateInstanceError } from "./instance-twin.js";
import { type RunningService, type ServiceDefinition, startService } from "./service-host.js";

const ToyEvents = defineEvents("toy", {
  "toy.poked": { schema: z.object({ n: z.number() }), description: "poked" },
});

const poked: number[] = [];
const toyService: ServiceDefinition<typeof ToyEvents> = {
  name: "toy",
  version: "9.9.9",
  create: (deps) => ({
    subscribers: [deps.subscriber().on("toy.poked", (payload) => void poked.push(payload.n)) as never],
    routes: (app) => app.get("/hello", async () => ({ hello: deps.name })),
  }),
};

const running: RunningService[] = [];
const platforms: Platform[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
  for (const p of platforms.splice(0)) await p.close();
});

async function start(platform: Platform): Promise<RunningService> {
  platforms.push(platform);
  const service = await startService(toyService, {
    events: ToyEvents,
    platform,
    port: 0,
    logLevel: "silent",
  });
  running.push(service);
  return service;
}

it("serves the service's routes, health and metrics, registers it, and deregisters it on stop", async () => {
  const platform = createMemoryPlatform();
  const service = await start(platform);
  expect(await (await fetch(`${service.url}/hello`)).json()).toEqual({ hello: "toy" });
  const health = await fetch(`${service.url}/health`);
  expect(health.status).toBe(200);
  expect(await health.json()).toMatchObject({
    status: "ok",
    service: "toy",
    version: "9.9.9",
    checks: { store: true, consumers: true },
  });
  expect(await (await fetch(`${service.url}/metrics`)).text()).toContain(
    'ordersaga_http_requests_total{route="/hello"',
  );
  expect((await platform.registry.list("toy")).map((i) => i.instanceId)).toEqual([service.instanceId]);
  await service.stop();
  expect(await platform.registry.list("toy")).toEqual([]);
});

it("counts a dead-lettered message in its metrics with tracing off (no transport wrapper)", async () => {
  const platform = createMemoryPlatform();
  platforms.push(platform);
  const failing: ServiceDefinition<typeof ToyEvents> = {
    name: "toy-dlq",
    version: "1.0.0",
    create: (deps) => ({
      subscribers: [
        deps.subscriber().on("toy.poked", () => {
          throw new BusError("HOPELESS", "never works", { retryable: false });
        }) as never,
      ],
      start: async () => {
        await deps.publisher.publish("toy.poked", { n: 1 });
      },
    }),
  };
  const service = await startService(failing, { events: ToyEvents, platform, port: 0, logLevel: "silent" });
  running.push(service);
  await waitFor(
    async () =>
      /^ordersaga_events_processed_total\{[^}]*event="toy\.poked"[^}]*outcome="dead_lettered"[^}]*\} 1$/m.test(
        await (await fetch(`${service.url}/metrics`)).text(),
      ),
    10_000,
    "the dead letter counted",
  );
});

describeWithRedis("a service over Redis", (getRedis) => {
  it.skipIf(externalRedis)(
    "reports itself unavailable while Redis is down and ready again once it is back",
    async () => {
      const service = await start(createRedisPlatform({ url: getRedis().url }));
      expect((await fetch(`${service.url}/health`)).status).toBe(200);
      await getRedis().kill();
      const down = await waitFor(
        async () => {
          const res = await fetch(`${service.url}/health`);
          return res.status === 503 ? ((await res.json()) as { checks: { store: boolean } }) : undefined;
        },
        10_000,
        "503 while Redis is down",
      );
      expect(down.checks.store).toBe(false);
      await getRedis().start();
      await waitFor(async () => (await fetch(`${service.url}/health`)).status === 200, 15_000, "ready again");
    },
    30_000,
  );
});

it("fails to start on a busy port before consuming anything or registering: listen first", async () => {
  const platform = createMemoryPlatform();
  platforms.push(platform);
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const port = (busy.address() as AddressInfo).port;
  const steps: string[] = [];
  const watched: ServiceDefinition<typeof ToyEvents> = {
    name: "toy",
    version: "9.9.9",
    create: (deps) => {
      const subscriber = deps.subscriber().on("toy.poked", () => void steps.push("consumed"));
      const start = subscriber.start.bind(subscriber);
      subscriber.start = async () => {
        steps.push("subscriber started");
        await start();
      };
      return {
        subscribers: [subscriber as never],
        start: async () => void steps.push("background started"),
      };
    },
  };
  try {
    await expect(
      startService(watched, { events: ToyEvents, platform, port, host: "127.0.0.1", logLevel: "silent" }),
    ).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(steps).toEqual([]);
    expect(await platform.registry.list("toy")).toEqual([]);
  } finally {
    await new Promise((resolve) => busy.close(resolve));
  }
});

it("refuses to start under an instance id a live process has, and starts over a dead one's entry (break29 F4)", async () => {
  const platform = createMemoryPlatform();
  platforms.push(platform);
  const options = {
    events: ToyEvents,
    platform,
    port: 0,
    logLevel: "silent",
    instanceId: "toy-twin",
  } as const;
  const first = await startService(toyService, options);
  running.push(first);
  expect(await (await fetch(`${first.url}/health/live`)).json()).toEqual({
    status: "ok",
    service: "toy",
    instanceId: "toy-twin",
  });
  const before = await platform.registry.get("toy", "toy-twin");

  const error = await startService(toyService, options).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DuplicateInstanceError);
  expect((error as Error).message).toContain(
    `instance id "toy-twin" is in use by a live process at ${first.url}`,
  );
  // The live one keeps its entry (the second never registered).
  expect(await platform.registry.get("toy", "toy-twin")).toEqual(before);

  // Once it is gone (killed: its entry not expired yet), the same id starts.
  const port = new URL(first.url).port;
  await first.stop();
  running.splice(running.indexOf(first), 1);
  await platform.registry.register({ ...before!, port: Number(port) }, 60_000);
  const next = await startService(toyService, options);
  running.push(next);
  expect((await platform.registry.get("toy", "toy-twin"))?.port).toBe(Number(new URL(next.url).port));
});
