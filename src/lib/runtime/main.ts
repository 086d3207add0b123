/**
 * The entry point of a service as its own process over Redis: parse the environment, connect,
 * check Redis can keep the promises, start, and stop gracefully on SIGTERM/SIGINT.
 */
import type { EventRegistry } from "../bus/events.js";
import { createLogger } from "../observability/logger.js";
import { initTracing } from "../observability/tracing.js";
import { parseEnv, serviceEnvSchema } from "./config.js";
import { failStart, signalReady } from "./launch-signal.js";
import { createRedisPlatform } from "./platform.js";
import { waitForRedis } from "./redis-ready.js";
import { retentionEnvSchema, retentionFromEnv } from "./retention.js";
import { guardRedisDurability, shutdownOnSignals } from "./process.js";
import { newInstanceId, type ServiceDefinition, startService } from "./service-host.js";

export async function runServiceMain<E extends EventRegistry>(
  definition: ServiceDefinition<E>,
  options: { events: E; defaultPort: number },
): Promise<void> {
  const env = parseEnv(serviceEnvSchema);
  const name = env.SERVICE_NAME ?? definition.name;
  const instanceId = env.INSTANCE_ID ?? newInstanceId(name);
  const logger = createLogger({ service: name, instance: instanceId, level: env.LOG_LEVEL });
  // Before anything that may make a span; a no-op unless tracing is enabled (tracing.ts).
  const tracing = initTracing({ service: name, instance: instanceId, version: definition.version });
  // Until Redis first answers, its retries are not logged: waitForRedis names the reason once.
  let connected = false;
  const platform = createRedisPlatform({
    deadConsumerMs: env.BUS_DEAD_CONSUMER_MS,
    url: env.REDIS_URL,
    ...(env.REDIS_USERNAME === undefined ? {} : { username: env.REDIS_USERNAME }),
    ...(env.REDIS_PASSWORD === undefined ? {} : { password: env.REDIS_PASSWORD }),
    claimIdleMs: env.CLAIM_IDLE_MS,
    retention: retentionFromEnv(parseEnv(retentionEnvSchema)),
    onError: (error) => {
      if (connected) logger.warn({ err: error }, "redis connection error");
    },
  });
  const port = env.SERVICE_PORT ?? options.defaultPort;
  if (env.NODE_ENV === "production" && env.GATEWAY_SHARED_SECRET === undefined) {
    // Fails closed: an open port in production would let anyone around the gateway's API keys.
    await failStart(
      name,
      new Error("refusing to start in production without GATEWAY_SHARED_SECRET (the gateway's credential)"),
      port,
    );
  }
  await waitForRedis(platform.redis, env.REDIS_CONNECT_TIMEOUT_MS).catch((error: unknown) =>
    failStart(name, error, port),
  );
  connected = true;
  await guardRedisDurability(platform.redis, logger, env.NODE_ENV);
  const running = await startService(
    { ...definition, name },
    {
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
      ...(env.GATEWAY_SHARED_SECRET === undefined ? {} : { gatewaySecret: env.GATEWAY_SHARED_SECRET }),
    },
  ).catch((error: unknown) => failStart(name, error, port));
  await signalReady(name, running.url);
  shutdownOnSignals({
    logger,
    stop: async () => {
      await running.stop();
      await platform.close();
      await tracing.shutdown();
    },
  });
}
