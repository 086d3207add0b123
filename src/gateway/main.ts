/**
 * The gateway as its own process over Redis: read the environment, connect, check Redis can keep
 * the promises, start, and stop gracefully on SIGTERM/SIGINT.
 */
import { createLogger } from "../lib/observability/logger.js";
import { parseEnv } from "../lib/runtime/config.js";
import { checkRedisDurability, createRedisPlatform } from "../lib/runtime/platform.js";
import { newInstanceId } from "../lib/runtime/service-host.js";
import { gatewayEnvSchema } from "./config.js";
import { createGateway, GATEWAY_SERVICE } from "./gateway.js";

const env = parseEnv(gatewayEnvSchema);
const instanceId = env.INSTANCE_ID ?? newInstanceId(GATEWAY_SERVICE);
const logger = createLogger({ service: GATEWAY_SERVICE, instance: instanceId, level: env.LOG_LEVEL });
const platform = createRedisPlatform({
  url: env.REDIS_URL,
  onError: (error) => logger.warn({ err: error }, "redis connection error"),
});
const warnings = platform.redis
  ? await checkRedisDurability(platform.redis).catch((error: unknown) => [
      `cannot read Redis config: ${String(error)}`,
    ])
  : [];
for (const warning of warnings) logger.warn(warning);
if (env.NODE_ENV === "production" && warnings.length > 0) {
  logger.fatal("refusing to start in production on a Redis that cannot keep the delivery promises");
  process.exit(1);
}

const gateway = await createGateway({
  platform,
  port: env.GATEWAY_PORT,
  host: env.GATEWAY_HOST,
  logger,
  instanceId,
  apiKeys: env.GATEWAY_API_KEYS,
  upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
  healthCheckIntervalMs: env.HEALTH_CHECK_INTERVAL_MS,
  heartbeatIntervalMs: env.HEARTBEAT_INTERVAL_MS,
});

let exiting = false;
async function shutdown(signal: string): Promise<void> {
  if (exiting) return;
  exiting = true;
  logger.info({ signal }, "shutting down");
  const force = setTimeout(() => process.exit(1), 10_000);
  force.unref();
  try {
    await gateway.stop();
    await platform.close();
  } finally {
    process.exit(0);
  }
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
