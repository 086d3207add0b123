/**
 * The entry point of a service as its own process over Redis: parse the environment, connect,
 * check Redis can keep the promises, start, and stop gracefully on SIGTERM/SIGINT.
 */
import type { EventRegistry } from "../bus/events.js";
import { createLogger } from "../observability/logger.js";
import { parseEnv, serviceEnvSchema } from "./config.js";
import { checkRedisDurability, createRedisPlatform } from "./platform.js";
import { newInstanceId, type ServiceDefinition, startService } from "./service-host.js";

export async function runServiceMain<E extends EventRegistry>(
  definition: ServiceDefinition<E>,
  options: { events: E; defaultPort: number },
): Promise<void> {
  const env = parseEnv(serviceEnvSchema);
  const name = env.SERVICE_NAME ?? definition.name;
  const instanceId = env.INSTANCE_ID ?? newInstanceId(name);
  const logger = createLogger({ service: name, instance: instanceId, level: env.LOG_LEVEL });
  const platform = createRedisPlatform({
    url: env.REDIS_URL,
    claimIdleMs: env.CLAIM_IDLE_MS,
    onError: (error) => logger.warn({ err: error }, "redis connection error"),
  });
  const warnings = await checkRedisDurability(platform.redis!).catch((error: unknown) => [
    `cannot read Redis config: ${String(error)}`,
  ]);
  for (const warning of warnings) logger.warn(warning);
  if (env.NODE_ENV === "production" && warnings.length > 0) {
    logger.fatal("refusing to start in production on a Redis that cannot keep the delivery promises");
    process.exit(1);
  }
  const running = await startService(
    { ...definition, name },
    {
      events: options.events,
      platform,
      port: env.SERVICE_PORT ?? options.defaultPort,
      host: env.SERVICE_HOST,
      advertiseHost: env.SERVICE_ADVERTISE_HOST ?? env.SERVICE_HOST,
      instanceId,
      logger,
      heartbeatIntervalMs: env.HEARTBEAT_INTERVAL_MS,
    },
  );
  let exiting = false;
  const shutdown = async (signal: string) => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    try {
      await running.stop();
      await platform.close();
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}
