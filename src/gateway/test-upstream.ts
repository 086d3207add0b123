/**
 * Real HTTP upstreams for the gateway's tests: a Fastify server on a free port, registered in a
 * registry as an instance of a service, recording what it received and answering as told.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { afterEach } from "vitest";
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

/** A test file's gateway and upstreams, stopped after each test (see `useTestGateway`). */
export interface TestGatewayScope {
  /** The gateway `start` started for this test; throws before. */
  readonly gw: TestGateway;
  /** Starts this test's gateway (`startTestGateway`). */
  start(options?: Partial<GatewayOptions>): Promise<TestGateway>;
  /** An upstream in the gateway's registry, closed after the test. */
  upstream(service: string, instanceId: string, answerer?: Answerer): Promise<TestUpstream>;
  /** Closes upstreams started elsewhere (another registry) after the test too. */
  closeAfter(...upstreams: TestUpstream[]): void;
  /** Stops the gateway now (a test of what stopping does); the teardown then leaves it. */
  stopGateway(): Promise<void>;
}

/**
 * Registers, in the calling test file, the teardown every gateway test needs: after each test the
 * gateway is stopped, then the upstreams closed. The gateway first: a hanging upstream's server
 * waits for its open request, and after an aborted call undici opens a fresh connection that an
 * upstream's close() would wait for, until the gateway's pool lets go of both.
 */
export function useTestGateway(): TestGatewayScope {
  let current: TestGateway | undefined;
  const upstreams: TestUpstream[] = [];
  afterEach(async () => {
    const gateway = current;
    current = undefined;
    await gateway?.stop();
    await Promise.all(upstreams.splice(0).map((u) => u.close().catch(() => {})));
  });
  const scope: TestGatewayScope = {
    get gw() {
      if (!current) throw new Error("start the gateway first");
      return current;
    },
    start: async (options) => (current = await startTestGateway(options)),
    upstream: async (service, instanceId, answerer) => {
      const started = await startTestUpstream(scope.gw.registry, service, instanceId, answerer);
      upstreams.push(started);
      return started;
    },
    closeAfter: (...started) => {
      upstreams.push(...started);
    },
    stopGateway: async () => {
      const gateway = current;
      current = undefined;
      await gateway?.stop();
    },
  };
  return scope;
}
