/**
 * The API gateway: the only public HTTP entry. It validates input at the edge, authenticates
 * callers (when keys are configured), and forwards to healthy service instances found in the
 * registry, each behind its own circuit breaker. It registers itself as service `gateway`, runs the
 * health checker that deregisters dead instances, and serves the DLQ operations and its metrics.
 */
import type { FastifyInstance } from "fastify";
import { AllEvents } from "../contracts/catalog.js";
import { toAsyncApi } from "../lib/bus/asyncapi.js";
import { Publisher } from "../lib/bus/publisher.js";
import { type ServiceAgent, startServiceAgent } from "../lib/discovery/agent.js";
import { type HealthChecker, startHealthChecker } from "../lib/discovery/health-checker.js";
import type { DiscoveryPublish, ServiceRegistry } from "../lib/discovery/types.js";
import { DeadLetterQueue } from "../lib/dlq/dead-letter-queue.js";
import { createHttpServer } from "../lib/http/server.js";
import { type DrainAnswer, drainAndClose } from "../lib/http/drain.js";
import {
  DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
  defaultMaxConnections,
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
  installConnectionLimits,
  trustedPeer,
} from "./connection-limits.js";
import { createLogger, type Logger } from "../lib/observability/logger.js";
import { Metrics } from "../lib/observability/metrics.js";
import { startMetricsReporter } from "../lib/observability/metrics-reporter.js";
import type { Platform } from "../lib/runtime/platform.js";
import { reportClockSteps } from "../lib/runtime/service-clock.js";
import { newInstanceId, signingKeyMetadata } from "../lib/runtime/service-host.js";
import { getProcessKeyring } from "../lib/security/process-keys.js";
import { installApiKeyAuth } from "./auth.js";
import { installRateLimit } from "./rate-limit.js";
import { boundStore, DEFAULT_STORE_TIMEOUT_MS } from "./bounded-store.js";
import { installJsonBodyParser } from "./json-body.js";
import { buildOpenApiDocument } from "./openapi.js";
import { type GatewayBreakerOptions, UpstreamProxy } from "./proxy.js";
import { watchDlqSkips } from "./dlq-skips.js";
import { type RedisMemoryWatch, watchRedisMemory } from "./redis-memory.js";
import { dlqRouteDocs, registerDlqRoutes } from "./routes/dlq.js";
import { proxyRoutes, registerProxyRoutes } from "./routes/proxied.js";
import { registerSystemRoutes, systemRouteDocs } from "./routes/system.js";
import { PACKAGE_VERSION } from "../lib/runtime/version.js";
import { monotonicNow } from "../lib/resilience/monotonic.js";
import { REGISTRY_REMOVAL_SKIPPED, STOP_BUDGETS_MS, stopStep } from "../lib/runtime/stop-step.js";
import { hmacImplementation } from "../lib/security/native-hmac.js";

export const GATEWAY_SERVICE = "gateway";
/** package.json's version (one place to change at a release). */
export const GATEWAY_VERSION = PACKAGE_VERSION;
/** Health check round period: one GET /health per instance every 5 s (ms). */
export const DEFAULT_HEALTH_CHECK_INTERVAL_MS = 5_000;
/** Per API key: 1 200 requests a minute sustained, 200 at once (GATEWAY_RATE_LIMIT_*). */
export const DEFAULT_RATE_LIMIT = { perMinute: 1_200, burst: 200 } as const;

export interface GatewayOptions {
  platform: Platform;
  /** Where instances are found and the gateway registers itself (default: the platform's). */
  registry?: ServiceRegistry;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** Address announced in the registry (default: `host`, or 127.0.0.1 when binding every interface). */
  advertiseAddress?: string;
  logger?: Logger;
  /**
   * Client keys: when this or `adminKeys` is non-empty, every route but /health needs a key.
   * Both empty (default): no auth, every route open (development).
   */
  apiKeys?: readonly string[];
  /** Admin keys: also catalog changes, restock, the DLQ and /services (`isAdminRoute`). */
  adminKeys?: readonly string[];
  /** Per-API-key token bucket (default 1 200/min, burst 200); `perMinute: 0` turns it off. */
  rateLimit?: { perMinute: number; burst?: number };
  /** Failed authentications per client address and minute before 429 (default 10; 0: off). */
  authFailuresPerMinute?: number;
  /**
   * Proxies whose X-Forwarded-For gives the client's address (GATEWAY_TRUST_PROXY, parsed by
   * `parseTrustProxy`): IP addresses, CIDRs, loopback/linklocal/uniquelocal. Default none: the
   * client address (the failed-authentication throttle's key) is the TCP peer's.
   */
  trustProxy?: readonly string[];
  /** Secret every call to a service is signed with (`X-Gateway-Auth`); unset: unsigned calls. */
  sharedSecret?: string;
  /** Time budget of one upstream attempt (default 10 000 ms): then 504 UPSTREAM_TIMEOUT. */
  upstreamTimeoutMs?: number;
  /** Largest answer body read from an instance (default 10 MiB): then 502 UPSTREAM_BODY_TOO_LARGE. */
  upstreamMaxBodyBytes?: number;
  /** Instances tried for one request at most (default 3). */
  maxAttempts?: number;
  /**
   * Health check round period (default 5 000 ms: a dead instance is marked unhealthy within seconds;
   * the spec's 60 s left it listed healthy for a minute); 0 disables the checker.
   */
  healthCheckIntervalMs?: number;
  healthCheckTimeoutMs?: number;
  /** Consecutive failed checks that deregister an instance (default 3). */
  unhealthyThreshold?: number;
  heartbeatIntervalMs?: number;
  /**
   * Period of the `INFO memory` reads over Redis (default 15 000 ms, REDIS_MEMORY_READ_INTERVAL_MS;
   * the first at start): the gauges `ordersaga_redis_memory_used_bytes`/`_maxmemory_bytes` and
   * GET /health's `redis` field (redis-memory.ts). None in memory mode.
   */
  redisMemoryIntervalMs?: number;
  /** How long the instance list of a service is reused (default 1 000 ms). */
  discoveryCacheTtlMs?: number;
  breaker?: GatewayBreakerOptions;
  /**
   * More metrics served on the gateway's /metrics besides its own: in the embedded mode every
   * service of the process, so one scrape sees every series (each labelled by `service`).
   */
  metricsOf?: () => readonly Metrics[];
  /** Largest request body in bytes (default 64 KiB): larger gets 413. */
  bodyLimit?: number;
  /**
   * Client connections open at once (GATEWAY_MAX_CONNECTIONS; default half the open-files limit,
   * `defaultMaxConnections`); 0: no limit. Over it Node closes the new connection at once.
   */
  maxConnections?: number;
  /**
   * Client connections open at once from one peer address, trusted proxies excepted
   * (GATEWAY_MAX_CONNECTIONS_PER_ADDRESS; default 256); 0: no limit. Over it: closed at once.
   */
  maxConnectionsPerAddress?: number;
  /** Idle time (ms) before a kept-alive client socket is closed (GATEWAY_KEEP_ALIVE_TIMEOUT_MS; 5 000). */
  keepAliveTimeoutMs?: number;
  /**
   * Budget of each registry or dead-letter-store call made while answering a request (default
   * 1 000 ms): with Redis unreachable every route answers 503 SERVICE_UNAVAILABLE + Retry-After then.
   */
  storeTimeoutMs?: number;
  instanceId?: string;
  /**
   * Epoch ms of this host (default `Date.now`): dates only (metrics windows; in memory mode, the one
   * clock, also the credential and the DLQ's audit dates, which are on Redis TIME over Redis). Never times a local duration: a step of it changes nothing there.
   */
  now?: () => number;
  /**
   * Ms on a monotonic source (default `monotonicNow`): every local duration (rate limiter, failed-
   * authentication throttle, breakers, discovery cache, avoid list, budgets, uptime). Break22 F1:
   * on the wall clock, a step back rate-limited every key and froze the instance list.
   */
  monotonicNow?: () => number;
}

export interface Gateway {
  url: string;
  port: number;
  instanceId: string;
  app: FastifyInstance;
  metrics: Metrics;
  proxy: UpstreamProxy;
  stop(): Promise<void>;
}

/** Services the gateway reports on even while none of their instances is registered. */
const KNOWN_SERVICES = new Set([
  ...proxyRoutes.map((r) => r.service),
  "payment",
  "shipping",
  GATEWAY_SERVICE,
]);

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const { platform } = options;
  const registry = options.registry ?? platform.registry;
  const now = options.now ?? Date.now;
  const monotonic = options.monotonicNow ?? monotonicNow;
  const instanceId = options.instanceId ?? newInstanceId(GATEWAY_SERVICE);
  const logger = options.logger ?? createLogger({ service: GATEWAY_SERVICE, instance: instanceId });
  const metrics = new Metrics({ service: GATEWAY_SERVICE, defaultMetrics: true, now });
  const storeTimeoutMs = options.storeTimeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  // Request handlers read through bounded ports; heartbeats and the checker keep the plain registry.
  const boundedRegistry = boundStore(registry, storeTimeoutMs, "service registry");
  // The request credential (and breaker changes) are dated on the platform's shared clock (Redis
  // TIME on Redis), the one services check it on; local durations are timed on `monotonic`.
  // In memory mode there is one clock and tests may inject `now`: sign with it, as before.
  const shared = platform.redis ? await platform.clock() : undefined;
  const sharedNow = shared?.now ?? now;
  const proxy = createProxy(
    options,
    boundedRegistry,
    registry,
    metrics,
    logger,
    monotonic,
    sharedNow,
    shared?.resync,
  );
  const apiKeys = [...(options.apiKeys ?? []), ...(options.adminKeys ?? [])];
  // Redis memory (over Redis only): gauges and /health's `redis` field; started once the gateway is.
  const redisMemory = platform.redis
    ? watchRedisMemory({
        redis: platform.redis,
        registry: metrics.registry,
        logger,
        monotonicNow: monotonic,
        ...(options.redisMemoryIntervalMs === undefined ? {} : { intervalMs: options.redisMemoryIntervalMs }),
      })
    : undefined;
  const app = buildApp({
    options,
    platform,
    registry: boundedRegistry,
    proxy,
    metrics,
    instanceId,
    apiKeys,
    storeTimeoutMs,
    sharedNow,
    monotonic,
    logger,
    redisMemory,
  });
  const host = options.host ?? "127.0.0.1";
  try {
    await app.listen({ port: options.port ?? 8080, host });
  } catch (error) {
    await proxy.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 8080);
  const background = await startBackground(options, {
    registry,
    proxy,
    metrics,
    logger,
    instanceId,
    port,
    host,
    clock: sharedNow,
  }).catch(async (error: unknown) => {
    await app.close();
    await proxy.close();
    throw error;
  });
  // Once started (a failed start leaves no listener on the platform's clock).
  const stopClockSteps = shared ? reportClockSteps(shared, metrics, logger) : () => {};
  redisMemory?.start();
  logger.info({ port, auth: apiKeys.length > 0, hmac: hmacImplementation() }, "gateway started");
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    instanceId,
    app,
    metrics,
    proxy,
    stop: () => {
      stopping ??= (async () => {
        // Each Redis step with a budget, as a service's stop (stop-step.ts; edge20).
        await stopStep(
          logger,
          "registry removal",
          STOP_BUDGETS_MS.registryRemoval,
          REGISTRY_REMOVAL_SKIPPED,
          () => background.agent.stop(),
        );
        // As a service stops (drain.ts; break18 F1: app.close() reset kept-alive clients' requests):
        // new requests get 503 with Retry-After and Connection: close until the load balancer has
        // moved them, requests in flight finish within the budget.
        await drainAndClose(app, { answer: GATEWAY_DRAIN_ANSWER });
        await stopStep(
          logger,
          "health checker and metrics flush",
          STOP_BUDGETS_MS.gatewayBackground,
          "the next gateway's checker takes over; metrics events are hints",
          () => background.stop(),
        );
        await proxy.close();
        stopClockSteps();
        redisMemory?.stop();
        logger.info("gateway stopped");
      })();
      return stopping;
    },
  };
}

/** What a stopping gateway answers a new request (never read: safe to send again, to any gateway). */
export const GATEWAY_DRAIN_ANSWER: DrainAnswer = {
  body: JSON.stringify({
    error: {
      code: "SERVICE_UNAVAILABLE",
      message: "This gateway instance is stopping; the request was not read: send it again",
    },
  }),
  retryAfterSeconds: 1,
};

function createProxy(
  options: GatewayOptions,
  boundedRegistry: ServiceRegistry,
  registry: ServiceRegistry,
  metrics: Metrics,
  logger: Logger,
  monotonic: () => number,
  signingClock: () => number,
  resyncSigningClock: (() => Promise<void>) | undefined,
): UpstreamProxy {
  return new UpstreamProxy({
    registry: boundedRegistry,
    ...(options.upstreamTimeoutMs === undefined ? {} : { timeoutMs: options.upstreamTimeoutMs }),
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    ...(options.upstreamMaxBodyBytes === undefined ? {} : { maxBodyBytes: options.upstreamMaxBodyBytes }),
    ...(options.discoveryCacheTtlMs === undefined
      ? {}
      : { discoveryCacheTtlMs: options.discoveryCacheTtlMs }),
    ...(options.breaker ? { breaker: options.breaker } : {}),
    ...(options.sharedSecret === undefined ? {} : { sharedSecret: options.sharedSecret }),
    signingClock,
    ...(resyncSigningClock === undefined ? {} : { resyncSigningClock }),
    onInstanceDown: (instance, detail) => {
      if (instance.status === "unhealthy") return;
      registry.setHealth(instance.service, instance.instanceId, "unhealthy", 1).then(
        (marked) => {
          if (marked)
            logger.warn(
              { service: instance.service, instanceId: instance.instanceId, detail },
              "instance marked unhealthy",
            );
        },
        (error: unknown) => logger.debug({ err: error }, "could not mark instance unhealthy"),
      );
    },
    onBreakerChange: (change) => {
      metrics.recordBreakerChange(change);
      logger.warn({ breaker: change.breaker, from: change.from, to: change.to }, "upstream circuit changed");
    },
    // Breakers are per instance: a restart makes a new one, so a gone instance's labels must go too.
    onBreakerDropped: (breaker) => metrics.forgetBreaker(breaker),
    onBreakerCreated: (breaker) => metrics.trackBreaker(breaker),
    logger,
    monotonicNow: monotonic,
  });
}

interface AppParts {
  options: GatewayOptions;
  platform: Platform;
  registry: ServiceRegistry;
  proxy: UpstreamProxy;
  metrics: Metrics;
  instanceId: string;
  apiKeys: readonly string[];
  storeTimeoutMs: number;
  /** Epoch ms on the platform's shared clock: the DLQ's audit dates, read next to the records'. */
  sharedNow: () => number;
  monotonic: () => number;
  logger: Logger;
  /** Redis memory as last read (GET /health's `redis` field); undefined in memory mode. */
  redisMemory: RedisMemoryWatch | undefined;
}

function buildApp(parts: AppParts): FastifyInstance {
  const { platform, proxy, metrics, monotonic } = parts;
  const app = createHttpServer({
    bodyLimit: parts.options.bodyLimit ?? 64 * 1024,
    metrics,
    // The public edge: a client's traceparent is a link of a new trace, never its parent (break13 F1).
    incomingTrace: "link",
    errorLog: parts.logger,
    ...(parts.options.trustProxy === undefined ? {} : { trustProxy: parts.options.trustProxy }),
    keepAliveTimeoutMs: parts.options.keepAliveTimeoutMs ?? GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
  });
  // An unauthenticated client must not hold every socket (break17 F3; connection-limits.ts).
  installConnectionLimits(
    app.server,
    {
      maxConnections: parts.options.maxConnections ?? defaultMaxConnections(),
      maxPerAddress: parts.options.maxConnectionsPerAddress ?? DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
      exempt: trustedPeer(parts.options.trustProxy ?? []),
    },
    metrics.registry,
  );
  installJsonBodyParser(app);
  installApiKeyAuth(app, parts.options.apiKeys ?? [], parts.options.adminKeys ?? [], {
    ...(parts.options.authFailuresPerMinute === undefined
      ? {}
      : { failuresPerMinute: parts.options.authFailuresPerMinute }),
    monotonicNow: monotonic,
  });
  installRateLimit(app, {
    perMinute: parts.options.rateLimit?.perMinute ?? DEFAULT_RATE_LIMIT.perMinute,
    burst: parts.options.rateLimit?.burst ?? DEFAULT_RATE_LIMIT.burst,
    monotonicNow: monotonic,
  });
  const docs = [...systemRouteDocs, ...proxyRoutes, ...dlqRouteDocs];
  const openapi = buildOpenApiDocument(docs, {
    version: GATEWAY_VERSION,
    authRequired: parts.apiKeys.length > 0,
  });
  const healthTimeoutMs = parts.options.healthCheckTimeoutMs ?? 2_000;
  registerSystemRoutes(app, {
    registry: parts.registry,
    metrics,
    ...(parts.options.metricsOf ? { metricsOf: parts.options.metricsOf } : {}),
    instanceId: parts.instanceId,
    version: GATEWAY_VERSION,
    knownServices: KNOWN_SERVICES,
    ping: () => platform.ping(),
    healthGet: (instance) => proxy.get(instance, "/health", healthTimeoutMs),
    openapi: () => openapi,
    monotonicNow: monotonic,
    ...(parts.redisMemory ? { redisMemory: parts.redisMemory.last } : {}),
  });
  const asyncapi = toAsyncApi(AllEvents, { title: "Ordersaga events", version: GATEWAY_VERSION });
  app.get("/asyncapi.json", async () => asyncapi); // documented in systemRouteDocs
  registerProxyRoutes(app, proxyRoutes, proxy);
  const { transport } = platform;
  const redeliver = transport.redeliver.bind(transport);
  // Sends each replay once even when a bulk retry is run again after a crash (Streams and memory).
  const redeliverOnce = transport.redeliverOnce?.bind(transport);
  const unwatch = watchDlqSkips(platform.deadLetters, metrics.registry, parts.logger);
  app.addHook("onClose", async () => unwatch());
  const store = boundStore(platform.deadLetters, parts.storeTimeoutMs, "dead letter store");
  registerDlqRoutes(
    app,
    // Dated on the shared clock: audit entries and purge ages sit next to the records' dates, which
    // the services wrote on Redis TIME (a gateway host hours off dated them hours off).
    new DeadLetterQueue({
      store,
      redeliver,
      now: parts.sharedNow,
      ...(redeliverOnce ? { redeliverOnce } : {}),
    }),
  );
  return app;
}

interface BackgroundParts {
  registry: ServiceRegistry;
  proxy: UpstreamProxy;
  metrics: Metrics;
  logger: Logger;
  instanceId: string;
  port: number;
  host: string;
  /** Epoch ms on the platform's shared clock: dates the hint messages (ids, occurredAt). */
  clock: () => number;
}

/**
 * Registration with heartbeats, the health checker, the pruning of breakers of gone instances, and
 * `metrics.*` events (breaker changes) on the hint bus.
 */
async function startBackground(
  options: GatewayOptions,
  parts: BackgroundParts,
): Promise<{ agent: ServiceAgent; stop(): Promise<void> }> {
  const { registry, proxy, logger } = parts;
  const hints = new Publisher({
    events: AllEvents,
    transport: options.platform.hints,
    source: { service: GATEWAY_SERVICE, instance: parts.instanceId },
    clock: parts.clock,
  });
  const publish: DiscoveryPublish = async (event, payload) => {
    await hints.publish(event as never, payload as never);
  };
  const anyAddress = parts.host === "0.0.0.0" || parts.host === "::";
  const agent = await startServiceAgent({
    registry,
    instance: {
      service: GATEWAY_SERVICE,
      instanceId: parts.instanceId,
      address: options.advertiseAddress ?? (anyAddress ? "127.0.0.1" : parts.host),
      port: parts.port,
      version: GATEWAY_VERSION,
      // The key its hints and DLQ retries are signed with (newuser10 F0); none without keys.
      ...gatewaySigningKeyMetadata(),
    },
    ...(options.heartbeatIntervalMs ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    publish,
    logger,
    // startedAt/lastHeartbeat are shown by GET /services next to other hosts' (break22 F6).
    now: parts.clock,
  });
  const reporter = startMetricsReporter({
    metrics: parts.metrics,
    publish: (event, payload) => hints.publish(event as never, payload as never),
    onError: (error, event) => logger.debug({ err: error, event }, "metrics event not published"),
  });
  const interval = options.healthCheckIntervalMs ?? DEFAULT_HEALTH_CHECK_INTERVAL_MS;
  let checker: HealthChecker | undefined;
  if (interval > 0) {
    checker = startHealthChecker({
      registry,
      intervalMs: interval,
      timeoutMs: options.healthCheckTimeoutMs ?? 2_000,
      unhealthyThreshold: options.unhealthyThreshold ?? 3,
      publish,
      logger,
      // Breakers follow the list each round just read (a second timer reading the whole registry
      // again on the same period doubled the gateway's idle registry reads).
      // The gateways themselves are never proxied to: no breakers for them.
      onRound: (live) => proxy.retain(live.filter((instance) => instance.service !== GATEWAY_SERVICE)),
    });
  }
  return {
    agent,
    stop: async () => {
      await checker?.stop();
      await reporter.stop();
    },
  };
}

/** signingKeyMetadata of this process's keyring; none when it has no keys (the publisher would fail first). */
function gatewaySigningKeyMetadata(): { metadata?: Record<string, string> } {
  try {
    return signingKeyMetadata(getProcessKeyring(), GATEWAY_SERVICE);
  } catch {
    return {};
  }
}
