/**
 * Runs one service instance on a platform: its publisher and subscribers (with the standard
 * middleware), its HTTP server with /health and /metrics, its registration and heartbeats, and an
 * orderly stop. Services only describe themselves (a ServiceDefinition); this wires them.
 */
import { hostname } from "node:os";
import type { FastifyInstance } from "fastify";
import { Counter } from "prom-client";
import type { BusLogger } from "../bus/context.js";
import type { EventRegistry } from "../bus/events.js";
import { createDedupeWindowMiddleware } from "../bus/middleware/dedupe-window.js";
import { createSubscriberLoggingMiddleware } from "../bus/middleware/logging.js";
import { createSubscriberTimingMiddleware } from "../bus/middleware/timing.js";
import { createTracingPublisherMiddleware, instrumentTransport } from "../bus/middleware/tracing.js";
import { Publisher } from "../bus/publisher.js";
import {
  type MustCompletePolicy,
  type RefusalDetails,
  type RefusalReason,
  type RetryPolicy,
  Subscriber,
  type SubscriberMiddleware,
} from "../bus/subscriber.js";
import { type ServiceAgent, startServiceAgent } from "../discovery/agent.js";
import { installGatewayCredentialCheck } from "../http/gateway-credential.js";
import { DEFAULT_DRAIN_IN_FLIGHT_MS, type DrainOptions, drainAndClose } from "../http/drain.js";
import { createHttpServer } from "../http/server.js";
import { ownedStreamKeys, StreamTrimmer } from "../bus/transports/redis-streams-trim.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { Metrics, type StreamGroupStats } from "../observability/metrics.js";
import { hmacImplementation } from "../security/native-hmac.js";
import { eventStreamKey } from "../bus/transports/redis-stream-keys.js";
import { groupStats } from "../bus/transports/redis-streams-lag.js";
import { RedisStreamsTransport } from "../bus/transports/redis-streams.js";
import { type MetricsReporter, startMetricsReporter } from "../observability/metrics-reporter.js";
import type { Platform } from "./platform.js";
import { DuplicateInstanceError, liveTwinOf } from "./instance-twin.js";
import { reportClockSteps } from "./service-clock.js";
import { REGISTRY_REMOVAL_SKIPPED, STOP_BUDGETS_MS, stopStep } from "./stop-step.js";
import {
  HELD_KEYS_METADATA,
  heldKeysPrint,
  KeyConfigError,
  type Keyring,
  SIGNING_KEY_METADATA,
  signingKeyPrint,
} from "../security/keyring.js";
import { getProcessKeyring, SIGNING_KEYS_ENV, SIGNING_KEYS_FILE_ENV } from "../security/process-keys.js";
import { createSigner, createVerifier } from "../security/signing.js";

export interface ServiceDeps<E extends EventRegistry> {
  name: string;
  instanceId: string;
  platform: Platform;
  logger: Logger;
  metrics: Metrics;
  /** Durable bus publisher (source = this instance). */
  publisher: Publisher<E>;
  /**
   * A subscriber in this service's consumer group with logging and timing middleware. No idempotency
   * middleware: every service dedupes by its business key (order id) inside the same atomic write as
   * its state change, which also covers a crash between the effect and a separate mark, and costs no
   * extra round trips or a key per message. `createIdempotencyMiddleware` remains for handlers
   * without such a key (pass it in `middleware`). Those marks live `MARKER_TTL_MS`, so a redelivery
   * or replay older than that (on the Redis clock) is refused, not run: dead-lettered as
   * `TOO_OLD_TO_DEDUPLICATE` and counted in `ordersaga_messages_too_old_total` and
   * `ordersaga_bus_messages_rejected_total`. Every delivery, a first one too, is dated by its signed
   * creation time; handlers `dedupedBy: "record"` are never refused (dedupe-window.ts).
   */
  subscriber(options?: {
    concurrency?: number;
    middleware?: readonly SubscriberMiddleware<E>[];
    retry?: Partial<RetryPolicy>;
    /** Must-complete policy numbers; the window defaults to BUS_MUST_COMPLETE_WINDOW_MS. */
    mustComplete?: Partial<MustCompletePolicy>;
  }): Subscriber<E, E>;
  now: () => number;
}

/** What a service gives the host. Everything is optional: a service may have no routes or no handlers. */
export interface ServiceParts {
  subscribers?: Subscriber<EventRegistry, EventRegistry>[];
  routes?: (app: FastifyInstance) => void;
  /** Extra readiness checks (name → ok). */
  readiness?: () => Promise<Record<string, boolean>>;
  /** Timers and background loops, started after the subscribers. */
  start?: () => Promise<void>;
  stop?: () => Promise<void>;
}

export interface ServiceDefinition<E extends EventRegistry> {
  name: string;
  version: string;
  create(deps: ServiceDeps<E>): ServiceParts | Promise<ServiceParts>;
  /**
   * Reads and checks the service's own settings without starting anything (no I/O); throws their
   * ConfigError. `runServiceMain` calls it before connecting to Redis, so a bad setting is one line
   * at once, not after Redis answers (newuser10 F4). `create` reads them again.
   */
  checkConfig?(): void;
}

export interface ServiceHostOptions<E extends EventRegistry> {
  events: E;
  /**
   * The instance's service name when not the definition's (`SERVICE_NAME`): its registry name,
   * consumer group, logs and metrics. It still signs, and trims its streams, as `definition.name`,
   * the owner of the events it publishes (its keyring needs that service's key).
   */
  serviceName?: string;
  platform: Platform;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Address registered for other processes to reach this instance (default: host). */
  advertiseHost?: string;
  instanceId?: string;
  logLevel?: string;
  heartbeatIntervalMs?: number;
  /** Retry window (ms) of must-complete handlers (default 6 h; env BUS_MUST_COMPLETE_WINDOW_MS). */
  mustCompleteWindowMs?: number;
  /** Where the metrics events go (default: every 10 s). */
  metricsIntervalMs?: number;
  /**
   * Also export the process's metrics (heap, RSS, event loop) on /metrics: for a service that is
   * its own process (`runServiceMain`), not for several services sharing one (embedded, tests).
   */
  processMetrics?: boolean;
  /** Log lines to a given stream (tests) instead of stdout. */
  logger?: Logger;
  /** Signing keys (default: this process's, from BUS_SIGNING_KEYS; see src/lib/security). */
  keyring?: Keyring;
  /**
   * Production: a subscription to a producer whose key the keyring lacks refuses the start (every
   * message of it would be dead-lettered SIGNATURE_INVALID); otherwise it is one warning line.
   * Default: NODE_ENV is production.
   */
  production?: boolean;
  /**
   * The gateway's shared secret: the HTTP port then serves only gateway-signed requests (but
   * health and metrics; see gateway-credential.ts). Unset: it serves anyone.
   */
  gatewaySecret?: string;
  /**
   * How the HTTP server drains at stop (drain.ts): quiet period, linger and in-flight budget, in
   * ms. The defaults (250, 2 000, 5 000) keep a stop within the 10 s force exit of shutdownOnSignals.
   */
  drain?: DrainOptions;
  now?: () => number;
}

export interface RunningService {
  name: string;
  instanceId: string;
  port: number;
  url: string;
  logger: Logger;
  /** The service's metrics (its registry carries a `service` label). */
  metrics: Metrics;
  stop(): Promise<void>;
}

/** The least the drain waits for requests in flight, whatever the registry removal took. */
const MIN_DRAIN_IN_FLIGHT_MS = 1_000;
/** Why: entries a handler did not acknowledge stay pending in the group and are claimed by another instance. */
const CONSUMERS_SKIPPED = "unacknowledged entries stay pending and another instance claims them";

const instancesInProcess = new Map<string, number>();

/**
 * The default consumer name: `<service>-<hostname>-<slot>`, the same after a restart of the same
 * process slot, so a restarted instance resumes its own pending entries at once and leaves no dead
 * consumer behind. The slot is INSTANCE_SLOT (a supervisor's process slot: 1, 2, ...), else pm2's
 * NODE_APP_INSTANCE, else the process id: PID 1 in a container (stable per container); on a shared
 * host a new pid per restart, whose old consumers the dead-consumer cleanup removes. A second
 * instance of one service in one process gets `-2`, `-3`... Two live processes must never share a
 * name: processes of one service on one host need different INSTANCE_SLOTs (or INSTANCE_IDs).
 */
export function newInstanceId(service: string, env: NodeJS.ProcessEnv = process.env): string {
  const slot = env.INSTANCE_SLOT ?? env.NODE_APP_INSTANCE ?? String(process.pid);
  const n = (instancesInProcess.get(service) ?? 0) + 1;
  instancesInProcess.set(service, n);
  return `${service}-${hostname()}-${slot}${n > 1 ? `-${n}` : ""}`;
}

export async function startService<E extends EventRegistry>(
  definition: ServiceDefinition<E>,
  options: ServiceHostOptions<E>,
): Promise<RunningService> {
  const { platform, events } = options;
  // Who this instance is (registry, consumer group, logs, metrics, source): SERVICE_NAME when set;
  // whom it publishes as (signing key, the streams it owns and trims): the definition's name, the
  // owner of its events. A renamed instance used to sign as its new name: every consumer refused
  // its events, and its streams went untrimmed (newuser17 F5).
  const name = options.serviceName ?? definition.name;
  const owner = definition.name;
  const instanceId = options.instanceId ?? newInstanceId(name);
  const now = options.now ?? Date.now;
  const logger =
    options.logger ??
    createLogger({
      service: name,
      instance: instanceId,
      ...(options.logLevel ? { level: options.logLevel } : {}),
    });
  // The transports' own lines (a group found missing, a lease lost...) in this service's log,
  // unless the platform was given a logger of its own (newuser17 F7).
  platform.adoptLogger?.(logger as unknown as BusLogger);
  const metrics = new Metrics({ service: name, defaultMetrics: options.processMetrics ?? false });
  const source = { service: name, instance: instanceId };
  // Signs as the owner of its events; throws (the service does not start) when no key is configured for it.
  const keyring = options.keyring ?? getProcessKeyring();
  const signer = createSigner(keyring, owner);
  const verifier = createVerifier(keyring);
  // Metric labels only from the catalog: a redeliver entry's topic is unsigned input, and one label
  // set per made-up topic would grow the series without bound (break-12 F9).
  const eventLabel = (event: string) => (Object.hasOwn(events, event) ? event : "unknown");
  // Messages are dated (id, occurredAt) on the platform's shared clock, the clock consumers check
  // them against (Redis TIME on Redis), never this host's: a fast host would have every message it
  // sends refused as created in the future (DESIGN §6; break9 F2).
  const sharedClock = await platform.clock();
  const clock = sharedClock.now;
  // Producer spans (a no-op while tracing is off); the hints bus (heartbeats, metrics) stays untraced.
  const publisher = new Publisher({
    events,
    transport: platform.transport,
    source,
    signer,
    clock,
    middleware: [createTracingPublisherMiddleware(platform.mode === "redis" ? "redis" : "memory")],
  });
  // Consumer spans around each delivery while tracing is on; off, the transport itself (zero cost).
  const subscriberTransport = instrumentTransport(platform.transport, { group: name });
  const onDeadLetter = (event: string, ms: number) =>
    metrics.recordEvent(eventLabel(event), "dead_lettered", ms);
  const hintPublisher = new Publisher({ events, transport: platform.hints, source, signer, clock });
  const publishHint = async (event: string, payload: unknown) => {
    await hintPublisher.publish(event as never, payload as never);
  };
  const tooOld = new Counter({
    name: "ordersaga_messages_too_old_total",
    help: "Messages refused as older than MARKER_TTL_MS (their dedupe marks may be gone): dead-lettered",
    labelNames: ["event"],
    registers: [metrics.registry],
  });
  const createdInFuture = new Counter({
    name: "ordersaga_messages_created_in_future_total",
    help: "Deliveries signed as created further in the future than the clock-skew margin (the publisher's clock is off): dead-lettered as CREATED_IN_FUTURE, not run",
    labelNames: ["event"],
    registers: [metrics.registry],
  });
  // Every refusal (a message dead-lettered without running) through the Subscriber's one hook. A
  // message created in the future has its own counter only; one too old to deduplicate is counted
  // in both its own and the rejections (a copy of an old signed entry is refused here, not by the
  // verifier); the verifier's and the size bound's refusals are rejections.
  const onRefused = (reason: RefusalReason, details: RefusalDetails) => {
    const event = eventLabel(details.event);
    if (reason === "CREATED_IN_FUTURE") {
      createdInFuture.inc({ event });
      return;
    }
    if (reason === "TOO_OLD_TO_DEDUPLICATE") tooOld.inc({ event });
    metrics.messagesRejected.inc({ event, reason });
  };
  // Messages' ages are read on the transport's clock (ctx.ageMs): the platform's shared Redis-time
  // clock (stream ids are written by Redis), never this host's.
  const standardMiddleware: SubscriberMiddleware<E>[] = [
    createSubscriberTimingMiddleware((event, ms, outcome) => metrics.recordEvent(event, outcome, ms)),
    // Re-synced before a refusal as created in the future: after a step of Redis's clock, the
    // publisher or this process may not have followed it yet (dedupe-window.ts).
    createDedupeWindowMiddleware({ windowMs: platform.retention.markerTtlMs, clock: sharedClock }),
  ];
  // A line per handled message only at debug: a child logger per message (with redaction) costs
  // real CPU at thousands of messages a second. Failures are logged by the Subscriber at any level.
  if (logger.isLevelEnabled("debug"))
    standardMiddleware.unshift(createSubscriberLoggingMiddleware({ level: "debug" }));
  const deps: ServiceDeps<E> = {
    name,
    instanceId,
    platform,
    logger,
    metrics,
    publisher,
    now,
    subscriber: (opts = {}) =>
      new Subscriber<E, E>({
        events,
        transport: subscriberTransport,
        group: name,
        consumer: instanceId,
        publisher,
        verifier,
        onRefused,
        onDeadLetter,
        logger: logger as unknown as BusLogger,
        middleware: [...standardMiddleware, ...(opts.middleware ?? [])],
        // Handlers mostly wait on Redis: 64 in flight keeps a service busy without queueing replies.
        concurrency: opts.concurrency ?? 64,
        ...(opts.retry === undefined ? {} : { retry: opts.retry }),
        mustComplete: {
          ...(options.mustCompleteWindowMs === undefined ? {} : { windowMs: options.mustCompleteWindowMs }),
          ...opts.mustComplete,
        },
        // Attempt and dead-letter dates, and the must-complete window against the messages' own
        // (Redis-time) dates: on the shared clock, unless a test injects one (break24 F3: a consumer
        // host 2 h slow dated its dead letters 2 h back and a purge of records "older than 1 h"
        // deleted them 7 s after they were written).
        now: options.now ?? clock,
      }),
  };
  const parts = await definition.create(deps);
  const subscribers = parts.subscribers ?? [];
  // Over Redis the producers are other processes: a key of theirs this keyring lacks now, it will
  // never have (in memory they share this process's keyring). Said at start, not as a dead letter
  // per message (newuser9 F9).
  const keyless =
    platform.mode === "redis"
      ? producersWithoutKey(
          keyring,
          subscribers.flatMap((s) => s.topics()),
        )
      : [];
  if (keyless.length > 0) {
    const message = missingKeysMessage(name, keyless);
    if (options.production ?? process.env.NODE_ENV === "production") {
      await parts.stop?.().catch(() => undefined);
      throw new KeyConfigError(message);
    }
    logger.warn({ producers: keyless }, message);
  }

  const app = createHttpServer({ metrics, errorLog: logger });
  // The credential's replay window is checked on the platform's shared clock (Redis's on Redis: the
  // gateway's and this host's clocks need not agree, issue 8 input 5), never on this host's `now`.
  if (options.gatewaySecret !== undefined) {
    installGatewayCredentialCheck(app, options.gatewaySecret, clock, sharedClock.resync, logger);
  }
  app.get("/health", async (_request, reply) => {
    const checks: Record<string, boolean> = {
      store: await platform.ping(),
      consumers: subscribers.every((s) => s.running),
      ...(await parts.readiness?.()),
    };
    const ok = Object.values(checks).every(Boolean);
    return reply.status(ok ? 200 : 503).send({
      status: ok ? "ok" : "unavailable",
      service: name,
      instanceId,
      version: definition.version,
      checks,
    });
  });
  // Names the instance, so a process started under the same id can tell it is live (instance-twin.ts).
  app.get("/health/live", async () => ({ status: "ok", service: name, instanceId }));
  app.get("/metrics", async (_request, reply) =>
    reply.header("content-type", metrics.contentType).send(await metrics.metricsText()),
  );
  parts.routes?.(app);
  const host = options.host ?? "127.0.0.1";
  const advertised = options.advertiseHost ?? host;
  // Listen first: a process that cannot take its port (EADDRINUSE) must fail before it consumes
  // a single message or registers; until its consumers run, /health answers 503.
  try {
    await app.listen({ port: options.port ?? 0, host });
  } catch (error) {
    await app.close().catch(() => undefined);
    await parts.stop?.().catch(() => undefined);
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : (options.port ?? 0);
  // Before it consumes anything: another live process under this id is refused (break29 F4).
  const twin = await liveTwinOf(platform.registry, name, instanceId, { address: advertised, port }).catch(
    () => undefined,
  );
  if (twin) {
    await app.close().catch(() => undefined);
    await parts.stop?.().catch(() => undefined);
    throw new DuplicateInstanceError(instanceId, twin);
  }

  for (const s of subscribers) await platform.transport.ensureGroups(name, s.topics());
  for (const s of subscribers) await s.start();
  metrics.initialiseSeries(subscribers.flatMap((s) => s.topics().map(({ topic }) => eventLabel(topic))));
  const stopLeaseMetrics = watchStreams(platform, name, subscribers, metrics);
  await parts.start?.();
  // Every stream of the events this service owns stays bounded, also those only its outbox writes.
  const { redis, retention } = platform;
  const trimmer = redis
    ? new StreamTrimmer({
        redis,
        keys: ownedStreamKeys(events, owner),
        retentionMs: retention.streamRetentionMs,
        maxLenWithoutGroups: retention.streamMaxLenWithoutGroups,
        intervalMs: retention.streamTrimIntervalMs,
        onError: (error) => logger.warn({ err: error }, "stream trim failed"),
        // A group nobody reads keeps every later entry (newuser10 F1): said, with the way out.
        onStaleGroup: ({ stream, group, lag, idleMs }) =>
          logger.warn(
            { stream, group, lag, idleMinutes: Math.round(idleMs / 60_000) },
            `consumer group "${group}" has read nothing from ${stream} for ${Math.round(idleMs / 60_000)} min ` +
              "while entries wait: the stream is not trimmed below them and grows; if its service is " +
              `retired, stop its instances and remove the group: XGROUP DESTROY ${stream} ${group}`,
          ),
      })
    : undefined;

  const reporter: MetricsReporter = startMetricsReporter({
    metrics,
    intervalMs: options.metricsIntervalMs ?? 10_000,
    publish: (event, payload) => publishHint(event, payload),
    onError: (error) => logger.debug({ err: error }, "metrics event not published"),
  });
  const agent: ServiceAgent = await startServiceAgent({
    registry: platform.registry,
    instance: {
      service: name,
      instanceId,
      address: advertised,
      port,
      version: definition.version,
      // The key it signs with (a public print): `--add-instances` refuses other keys (newuser10 F0).
      ...signingKeyMetadata(keyring, owner),
    },
    ...(options.heartbeatIntervalMs ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
    publish: (event, payload) => publishHint(event, payload),
    logger,
    // startedAt/lastHeartbeat are shown by GET /services next to other hosts' (break22 F6).
    now: clock,
  });
  // Once started (a failed start leaves no listener on the platform's clock).
  const stopClockSteps = reportClockSteps(sharedClock, metrics, logger);
  logger.info({ port, mode: platform.mode, hmac: hmacImplementation() }, "service started");

  let stopping: Promise<void> | undefined;
  return {
    name,
    instanceId,
    port,
    url: `http://${advertised}:${port}`,
    logger,
    metrics,
    stop: () => {
      stopping ??= (async () => {
        // Deregistered first, so callers stop picking it; then new requests are refused with the
        // drain 503 until they have, idle sockets closed only then (a socket closed under a request
        // just sent was a reset: outcome unknown), in-flight requests bounded (break17 F4).
        // Each step that waits on Redis has a budget (stop-step.ts): with Redis paused or down
        // the stop still ends well within shutdownOnSignals' 10 s force exit.
        const stopAt = performance.now();
        await stopStep(
          logger,
          "registry removal",
          STOP_BUDGETS_MS.registryRemoval,
          REGISTRY_REMOVAL_SKIPPED,
          () => agent.stop(),
        );
        const inFlightMs =
          (options.drain?.inFlightMs ?? DEFAULT_DRAIN_IN_FLIGHT_MS) - (performance.now() - stopAt);
        // The consumers stop while the HTTP server drains, not after it: no route waits on an event,
        // and a handler in flight (a provider call) gets the drain's seconds to finish.
        await Promise.all([
          drainAndClose(app, {
            ...options.drain,
            inFlightMs: Math.max(MIN_DRAIN_IN_FLIGHT_MS, inFlightMs),
          }),
          stopStep(logger, "consumers", STOP_BUDGETS_MS.consumers, CONSUMERS_SKIPPED, () =>
            Promise.all(subscribers.map((s) => s.stop())),
          ),
        ]);
        await stopStep(
          logger,
          "service parts",
          STOP_BUDGETS_MS.parts,
          "its loops end with the process",
          async () => parts.stop?.(),
        );
        await stopStep(logger, "stream trimmer", STOP_BUDGETS_MS.trimmer, "the next trim does it", async () =>
          trimmer?.stop(),
        );
        stopLeaseMetrics();
        stopClockSteps();
        await stopStep(
          logger,
          "metrics flush",
          STOP_BUDGETS_MS.metricsFlush,
          "metrics events are hints",
          () => reporter.stop(),
        );
        logger.info("service stopped");
      })();
      return stopping;
    },
  };
}

/**
 * Consumer-group metrics of a service on Redis: lease renewals and takeovers as they happen, and
 * lag and pending per subscribed stream read (XINFO GROUPS) when /metrics is scraped. Returns the
 * function that stops listening.
 */
function watchStreams(
  platform: Platform,
  group: string,
  subscribers: readonly Subscriber<EventRegistry, EventRegistry>[],
  metrics: Metrics,
): () => void {
  const { redis, transport } = platform;
  if (!redis || !(transport instanceof RedisStreamsTransport)) return () => {};
  const topics = subscribers.flatMap((s) => s.topics());
  metrics.setStreamProbe(async () => {
    const stats = await Promise.all(
      topics.map(async ({ topic, owner }): Promise<StreamGroupStats | undefined> => {
        // A nil lag (Redis cannot tell after XDEL/trims) is no sample, not a false 0; a caught-up
        // group is 0 whatever Redis 7.0's counter says after an AOF restart (redis-streams-lag.ts).
        const stats = await groupStats(redis, eventStreamKey(owner, topic), group);
        return stats && { topic, ...stats };
      }),
    );
    return stats.filter((s): s is StreamGroupStats => s !== undefined);
  });
  return transport.onLeaseActivity((activity) => {
    if (activity.group !== group) return;
    metrics.recordLeaseActivity(activity.kind, activity.topic, activity.count);
  });
}

/** The producers of `topics` without a key in `keyring` (sorted, each once). */
export function producersWithoutKey(keyring: Keyring, topics: readonly { owner: string }[]): string[] {
  const known = new Set(keyring.services());
  return [...new Set(topics.map((t) => t.owner))].filter((owner) => !known.has(owner)).sort();
}

function missingKeysMessage(service: string, producers: readonly string[]): string {
  return (
    `${service} has no signing key of ${producers.join(", ")}, whose events it subscribes to: every one ` +
    `would be dead-lettered SIGNATURE_INVALID (unknown key id). Give it their keys in ${SIGNING_KEYS_ENV} ` +
    `(or ${SIGNING_KEYS_FILE_ENV}); next to a development system, load its secrets file first ` +
    `(set -a; . .dev-secrets/<host>_<port>_db<n>.env; set +a)`
  );
}

/**
 * The registry metadata naming the key `service` signs with, `{ signingKey: "<kid>:<print>" }`
 * (signingKeyPrint), and every key the process holds, `heldKeys` (heldKeysPrint: the keys it
 * verifies with); none when the keyring has no key for `service`. Public prints, nothing secret.
 */
export function signingKeyMetadata(keyring: Keyring, service: string): { metadata?: Record<string, string> } {
  const key = keyring.current(service);
  if (!key) return {};
  return {
    metadata: { [SIGNING_KEY_METADATA]: signingKeyPrint(key), [HELD_KEYS_METADATA]: heldKeysPrint(keyring) },
  };
}
