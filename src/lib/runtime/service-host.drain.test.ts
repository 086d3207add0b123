import { connect, type Socket } from "node:net";
import { Agent, request } from "undici";
import { afterEach, expect, it } from "vitest";
import { z } from "zod";
import { defineEvents } from "../bus/events.js";
import { DRAIN_BODY } from "../http/drain.js";
import { keepAliveLoad } from "../../test-support/keep-alive-load.js";
import { waitFor } from "../../test-support/wait.js";
import { createMemoryPlatform, type Platform } from "./platform.js";
import { type RunningService, type ServiceHostOptions, startService } from "./service-host.js";

// break17 F4: a stop under keep-alive load overran its force exit and reset the gateway's sockets.

const Events = defineEvents("drainy", {
  "drainy.poked": { schema: z.object({ n: z.number() }), description: "poked" },
});

const platforms: Platform[] = [];
const services: RunningService[] = [];
const agents: Agent[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of services.splice(0)) await s.stop();
  for (const a of agents.splice(0)) await a.destroy();
  for (const p of platforms.splice(0)) await p.close();
});

/** A service whose POST /work takes `workMs` (or never ends with `hang`). */
async function start(
  drain: ServiceHostOptions<typeof Events>["drain"],
  work: { workMs?: number; hang?: boolean; entered?: () => void } = {},
): Promise<{ service: RunningService; platform: Platform }> {
  const platform = createMemoryPlatform();
  platforms.push(platform);
  const service = await startService(
    {
      name: "drainy",
      version: "1.0.0",
      create: () => ({
        routes: (app) =>
          app.post("/work", async (request) => {
            work.entered?.();
            const hang = work.hang === true && (request.body as { hang?: boolean } | undefined)?.hang;
            await new Promise((resolve) => {
              if (!hang) setTimeout(resolve, work.workMs ?? 20);
            });
            return { ok: true };
          }),
      }),
    },
    { events: Events, platform, port: 0, logLevel: "silent", ...(drain ? { drain } : {}) },
  );
  services.push(service);
  return { service, platform };
}

const post = (url: string, dispatcher: Agent, body: object = {}) =>
  request(`${url}/work`, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    dispatcher,
  });

it("stops within its budget under continuous keep-alive load: every request answered 200 or the drain 503, none reset", async () => {
  const { service } = await start({ quietMs: 200, lingerMs: 3_000, inFlightMs: 3_000 }, { workMs: 30 });
  // The gateway's pool: many kept-alive sockets, one request at a time on each.
  const agent = new Agent({ connections: 64, pipelining: 1, keepAliveTimeout: 10_000 });
  agents.push(agent);
  // Like the gateway: once this instance has answered the drain 503, the request goes elsewhere
  // and (its discovery cache refreshed) no more are sent here.
  const load = keepAliveLoad({
    clients: 24,
    send: () => post(service.url, agent),
    checkDrain: (text, headers) => {
      expect(text).toBe(DRAIN_BODY);
      expect(headers.connection).toBe("close");
    },
  });
  const { outcomes } = load;
  await waitFor(() => outcomes.length >= 100, 20_000, "load to run");
  load.stopping();
  const started = performance.now();
  await service.stop();
  const tookMs = performance.now() - started;
  await load.ended;
  expect(tookMs).toBeLessThan(6_000 + 2_000);
  // Reset / socket-closed answers are outcomes a POST's caller cannot know (502 at the gateway).
  const unexpected = outcomes.filter((o) => o !== "200" && o !== "drain" && o !== "ECONNREFUSED");
  expect(unexpected).toEqual([]);
  expect(outcomes).toContain("drain");
}, 30_000);

it("answers a request sent on an idle kept-alive socket after deregistration with the drain 503 and Connection: close", async () => {
  const { service, platform } = await start({ quietMs: 5_000, lingerMs: 5_000, inFlightMs: 3_000 });
  const socket = connect(service.port, "127.0.0.1");
  sockets.push(socket);
  let received = "";
  socket.setEncoding("utf8");
  socket.on("data", (chunk: string) => (received += chunk));
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  socket.on("error", () => undefined);
  const get = "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";
  socket.write(get);
  await waitFor(() => received.includes('"status":"ok"'), 5_000, "the first answer");
  received = "";
  const stopping = service.stop();
  await waitFor(async () => (await platform.registry.list("drainy")).length === 0, 5_000, "deregistration");
  socket.write(get);
  await closed;
  expect(received).toMatch(/^HTTP\/1\.1 503 /);
  expect(received.toLowerCase()).toContain("connection: close");
  expect(received).toContain(DRAIN_BODY);
  await stopping;
}, 20_000);

it("ends a stop within its in-flight budget though a request never ends", async () => {
  let entered = 0;
  const { service } = await start(
    { quietMs: 100, lingerMs: 500, inFlightMs: 500 },
    { hang: true, entered: () => (entered += 1) },
  );
  const agent = new Agent({ connections: 4, pipelining: 1 });
  agents.push(agent);
  const hung = post(service.url, agent, { hang: true }).then(
    () => "answered",
    (error: { code?: string }) => error.code ?? "failed",
  );
  await waitFor(() => entered === 1, 5_000, "the request in its handler");
  const started = performance.now();
  await service.stop();
  expect(performance.now() - started).toBeLessThan(500 + 500 + 2_000);
  expect(await hung).not.toBe("answered");
}, 20_000);
