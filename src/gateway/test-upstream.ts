/**
 * Real HTTP upstreams for the gateway's tests: a Fastify server on a free port, registered in a
 * registry as an instance of a service, recording what it received and answering as told.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import type { ServiceInstance, ServiceRegistry } from "../lib/discovery/types.js";
import { createHttpServer } from "../lib/http/server.js";
import { createLogger } from "../lib/observability/logger.js";
import { createMemoryPlatform, type Platform } from "../lib/runtime/platform.js";
import { createGateway, type Gateway, type GatewayOptions } from "./gateway.js";

export interface UpstreamHit {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** The body text exactly as received. */
  rawBody: string;
}

export interface UpstreamAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer (until the caller gives up and closes the connection). */
  hang?: boolean;
  /** Handle the request, then reset the connection (TCP RST) instead of answering. */
  reset?: boolean;
}

export type Answerer = (hit: UpstreamHit, request: FastifyRequest) => UpstreamAnswer;

export interface TestUpstream {
  instance: ServiceInstance;
  url: string;
  hits: UpstreamHit[];
  /** Change the answers from now on. */
  answer(answerer: Answerer): void;
  close(): Promise<void>;
}

/** Echoes what it received, with which instance served it. */
export const echo =
  (instanceId: string): Answerer =>
  (hit) => ({
    status: 200,
    body: { servedBy: instanceId, method: hit.method, url: hit.url, body: hit.rawBody },
  });

export async function startTestUpstream(
  registry: ServiceRegistry,
  service: string,
  instanceId: string,
  answerer?: Answerer,
): Promise<TestUpstream> {
  const app: FastifyInstance = createHttpServer({});
  const hits: UpstreamHit[] = [];
  let current: Answerer = answerer ?? echo(instanceId);
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, body, done) =>
    done(null, body),
  );
  app.get("/health", async () => ({ status: "ok", service, instanceId }));
  app.all("/*", async (request, reply) => {
    const hit: UpstreamHit = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      rawBody: typeof request.body === "string" ? request.body : "",
    };
    hits.push(hit);
    const answer = current(hit, request);
    if (answer.hang) {
      await new Promise<void>((resolve) => {
        request.raw.socket.once("close", () => resolve());
        setTimeout(resolve, 5_000).unref();
      });
    }
    if (answer.reset) {
      request.raw.socket.resetAndDestroy();
      return reply.hijack();
    }
    void reply.code(answer.status).headers(answer.headers ?? {});
    return answer.body === undefined ? reply.send() : reply.send(answer.body);
  });
  const url = await app.listen({ port: 0, host: "127.0.0.1" });
  const port = Number(new URL(url).port);
  const at = new Date().toISOString();
  const instance: ServiceInstance = {
    service,
    instanceId,
    address: "127.0.0.1",
    port,
    version: "1.0.0",
    startedAt: at,
    lastHeartbeat: at,
    status: "healthy",
    consecutiveFailures: 0,
  };
  await registry.register(instance, 60_000);
  return {
    instance,
    url,
    hits,
    answer: (next) => {
      current = next;
    },
    close: () => app.close(),
  };
}

export interface TestGateway {
  gateway: Gateway;
  registry: MemoryServiceRegistry;
  platform: Platform;
  url: string;
  stop(): Promise<void>;
}

/** A gateway on a free port over a memory platform and registry, quiet, without a health checker. */
export async function startTestGateway(options: Partial<GatewayOptions> = {}): Promise<TestGateway> {
  const registry = new MemoryServiceRegistry();
  const platform = options.platform ?? createMemoryPlatform();
  const gateway = await createGateway({
    platform,
    registry,
    port: 0,
    logger: createLogger({ service: "gateway", level: "silent" }),
    healthCheckIntervalMs: 0,
    discoveryCacheTtlMs: 0,
    ...options,
  });
  return {
    gateway,
    registry,
    platform,
    url: gateway.url,
    stop: async () => {
      await gateway.stop();
      await platform.close();
    },
  };
}
