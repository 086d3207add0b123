/**
 * The entry point of a service as its own process over Redis: parse the environment, connect,
 * check Redis can keep the promises, start, and stop gracefully on SIGTERM/SIGINT.
 */
import type { EventRegistry } from "../bus/events.js";
import type { TransportLogger } from "../bus/transports/redis-streams-support.js";
import { createLogger } from "../observability/logger.js";
import { initTracing } from "../observability/tracing.js";
import { ConfigError, parseEnv, serviceEnvSchema } from "./config.js";
import { KeyConfigError } from "../security/keyring.js";
import { getProcessKeyring } from "../security/process-keys.js";
import { failStart, signalReady } from "./launch-signal.js";
import { createRedisPlatform } from "./platform.js";
import { redisErrorHandler } from "./redis-credentials.js";
import { checkRedisPassword, REDIS_PASSWORD_CHECK_MS, redisLogin } from "./redis-password.js";
import { waitForRedis } from "./redis-ready.js";
import { warnIfBroadRedisUser } from "./redis-user-check.js";
import { retentionEnvSchema, retentionFromEnv } from "./retention.js";
import { guardRedisDurability, type ParentWatch, shutdownOnSignals, watchParent } from "./process.js";
import { newInstanceId, type ServiceDefinition, startService } from "./service-host.js";
import { serviceGatewaySecret } from "../http/gateway-credential.js";
import { placeholderMessage, placeholderVariables } from "../security/placeholders.js";

/**
 * Runs one service as a process. `definition` may be a loader: a service module that reads its own
 * variables on import (order's `SAGA_STEP_TIMEOUT_MS`, inventory's `MAX_ORDER_TOTAL_CENTS`) then
 * fails inside this function, so an invalid value (`ConfigError`) is reported like every other
 * start failure: `<name> could not start: Invalid configuration: VAR: why` on one line, the reason
 * sent to the launcher, exit 1 (README "exit code 1 with the reason").
 */
export async function runServiceMain<E extends EventRegistry>(
  definition: ServiceDefinition<E> | (() => Promise<ServiceDefinition<E>>),
  options: { events: E; defaultPort: number; name?: string },
): Promise<void> {
  // First: a launcher killed during start-up must end this process too (break9 F7).
  const parent = watchParent();
  // Named like after Redis answers: SERVICE_NAME, else the definition's name (known unless a
  // loader, then options.name); before, a definition object was ignored (newuser17 F4).
  const fallbackName =
    process.env.SERVICE_NAME ||
    options.name ||
    (typeof definition === "function" ? undefined : definition.name) ||
    "service";
  const configured = await Promise.resolve()
    .then(async () => {
      const read = {
        env: parseEnv(serviceEnvSchema),
        retention: retentionFromEnv(parseEnv(retentionEnvSchema)),
        definition: typeof definition === "function" ? await definition() : definition,
      };
      // The secrets production requires, the service's own settings and the signing keys, in that
      // order, before Redis is asked anything: a bad value is one line at once, not after a
      // connect (newuser10 F4).
      const secretsError = productionSecretsError(read.env, read.env.SERVICE_NAME ?? read.definition.name);
      if (secretsError) throw secretsError;
      read.definition.checkConfig?.();
      getProcessKeyring();
      return read;
    })
    .catch((error: unknown) => {
      if (error instanceof ConfigError || error instanceof KeyConfigError || error instanceof SecretsError)
        return failStart(fallbackName, error);
      throw error;
    });
  await runConfigured(configured.definition, configured.env, configured.retention, options, parent);
}

/** A secret production requires is missing or a known placeholder (one line, exit 1). */
class SecretsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretsError";
  }
}

/**
 * In production: any variable holding a `.env.example` placeholder (break-12 F4), or no gateway
 * credential for this service (it fails closed: an open port would let anyone around the gateway's
 * API keys). Undefined when none, and always outside production.
 */
function productionSecretsError(
  env: ReturnType<typeof parseEnv<typeof serviceEnvSchema>>,
  name: string,
): SecretsError | undefined {
  if (env.NODE_ENV !== "production") return undefined;
  const placeholders = placeholderVariables({ ...process.env, ...env });
  if (placeholders.length > 0) return new SecretsError(placeholderMessage(placeholders));
  if (serviceGatewaySecret(env, name) === undefined)
    return new SecretsError(
      "refusing to start in production without GATEWAY_SERVICE_SECRET (this service's gateway credential; or GATEWAY_SHARED_SECRET)",
    );
  return undefined;
}

async function runConfigured<E extends EventRegistry>(
  definition: ServiceDefinition<E>,
  env: ReturnType<typeof parseEnv<typeof serviceEnvSchema>>,
  retention: ReturnType<typeof retentionFromEnv>,
  options: { events: E; defaultPort: number },
  parent: ParentWatch,
): Promise<void> {
  const name = env.SERVICE_NAME ?? definition.name;
  const instanceId = env.INSTANCE_ID ?? newInstanceId(name);
  const logger = createLogger({ service: name, instance: instanceId, level: env.LOG_LEVEL });
  // Before anything that may make a span; a no-op unless tracing is enabled (tracing.ts).
  const tracing = initTracing({ service: name, instance: instanceId, version: definition.version });
  // Until Redis first answers, its retries are not logged: waitForRedis names the reason once.
  let connected = false;
  const port = env.SERVICE_PORT ?? options.defaultPort;
  // Before the connections are made: a password for a Redis without one (newuser9 F5).
  const login = await checkRedisPassword(redisLogin(env), {
    production: env.NODE_ENV === "production",
    warn: (message) => logger.warn(message),
    timeoutMs: Math.min(env.REDIS_CONNECT_TIMEOUT_MS, REDIS_PASSWORD_CHECK_MS),
  }).catch((error: unknown) => failStart(name, error, port));
  const platform = createRedisPlatform({
    deadConsumerMs: env.BUS_DEAD_CONSUMER_MS,
    ...login,
    claimIdleMs: env.CLAIM_IDLE_MS,
    retention,
    onError: redisErrorHandler(logger, () => connected),
    logger: logger as unknown as TransportLogger,
  });
  const gatewaySecret = serviceGatewaySecret(env, name);
  await waitForRedis(platform.redis, env.REDIS_CONNECT_TIMEOUT_MS).catch((error: unknown) =>
    failStart(name, error, port),
  );
  connected = true;
  await guardRedisDurability(platform.redis, logger, env.NODE_ENV, process, (reason) =>
    failStart(name, new Error(reason), port),
  );
  // In production, one warning when its Redis user is not its own (e.g. `default`: break44 F3).
  await warnIfBroadRedisUser(platform.redis, logger, env.NODE_ENV);
  const running = await startService(definition, {
    // SERVICE_NAME renames the registry name and consumer group; the instance still signs and
    // trims as definition.name, the owner of its events (newuser17 F5).
    serviceName: name,
    events: options.events,
    mustCompleteWindowMs: env.BUS_MUST_COMPLETE_WINDOW_MS,
    platform,
    port,
    host: env.SERVICE_HOST,
    advertiseHost: env.SERVICE_ADVERTISE_HOST ?? env.SERVICE_HOST,
    instanceId,
    logger,
    heartbeatIntervalMs: env.HEARTBEAT_INTERVAL_MS,
    processMetrics: true,
    production: env.NODE_ENV === "production",
    ...(gatewaySecret === undefined ? {} : { gatewaySecret }),
  }).catch((error: unknown) =>
    failStart(name, error, port, { variable: "SERVICE_HOST", host: env.SERVICE_HOST }),
  );
  await signalReady(name, running.url, logger);
  shutdownOnSignals({
    logger,
    parent,
    stop: async () => {
      await running.stop();
      await platform.close(logger);
      await tracing.shutdown();
    },
  });
}
