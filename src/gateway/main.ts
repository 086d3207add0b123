/**
 * The gateway as its own process over Redis: read the environment, connect, check Redis can keep
 * the promises, start, and stop gracefully on SIGTERM/SIGINT.
 */
import { createLogger } from "../lib/observability/logger.js";
import type { TransportLogger } from "../lib/bus/transports/redis-streams-support.js";
import { initTracing } from "../lib/observability/tracing.js";
import { parseEnv } from "../lib/runtime/config.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { redisErrorHandler } from "../lib/runtime/redis-credentials.js";
import { configOrFail, failStart, signalReady } from "../lib/runtime/launch-signal.js";
import { checkRedisPassword, REDIS_PASSWORD_CHECK_MS, redisLogin } from "../lib/runtime/redis-password.js";
import { waitForRedis } from "../lib/runtime/redis-ready.js";
import { warnIfBroadRedisUser } from "../lib/runtime/redis-user-check.js";
import { retentionEnvSchema, retentionFromEnv } from "../lib/runtime/retention.js";
import { guardRedisDurability, shutdownOnSignals, watchParent } from "../lib/runtime/process.js";
import { newInstanceId } from "../lib/runtime/service-host.js";
import { assertSafeGatewayConfig, gatewayEnvSchema } from "./config.js";
import { createGateway, GATEWAY_SERVICE } from "./gateway.js";

// First: a launcher killed during start-up must end this process too (break9 F7).
const parent = watchParent();
// A bad variable is one line naming it (and the launcher's reason), exit 1: never a stack trace.
const env = await configOrFail(GATEWAY_SERVICE, () => parseEnv(gatewayEnvSchema));
try {
  assertSafeGatewayConfig(env);
} catch (error) {
  await failStart(GATEWAY_SERVICE, error, env.GATEWAY_PORT);
}
const instanceId = env.INSTANCE_ID ?? newInstanceId(GATEWAY_SERVICE);
const logger = createLogger({ service: GATEWAY_SERVICE, instance: instanceId, level: env.LOG_LEVEL });
// Before the server exists; a no-op unless tracing is enabled (lib/observability/tracing.ts).
const tracing = await configOrFail(GATEWAY_SERVICE, () =>
  initTracing({ service: GATEWAY_SERVICE, instance: instanceId }),
);
// Until Redis first answers, its retries are not logged: waitForRedis names the reason once.
let connected = false;
// Before the connections are made: a password for a Redis without one (newuser9 F5).
const login = await checkRedisPassword(redisLogin(env), {
  production: env.NODE_ENV === "production",
  warn: (message) => logger.warn(message),
  timeoutMs: Math.min(env.REDIS_CONNECT_TIMEOUT_MS, REDIS_PASSWORD_CHECK_MS),
}).catch((error: unknown) => failStart(GATEWAY_SERVICE, error, env.GATEWAY_PORT));
const platform = createRedisPlatform({
  ...login,
  retention: await configOrFail(GATEWAY_SERVICE, () => retentionFromEnv(parseEnv(retentionEnvSchema))),
  onError: redisErrorHandler(logger, () => connected),
  // The transports' own lines in the gateway's log (newuser17 F7).
  logger: logger as unknown as TransportLogger,
});
await waitForRedis(platform.redis, env.REDIS_CONNECT_TIMEOUT_MS).catch((error: unknown) =>
  failStart(GATEWAY_SERVICE, error, env.GATEWAY_PORT),
);
connected = true;
await guardRedisDurability(platform.redis, logger, env.NODE_ENV, process, (reason) =>
  failStart(GATEWAY_SERVICE, new Error(reason), env.GATEWAY_PORT),
);
// In production, one warning when its Redis user is not its own (e.g. `default`: break44 F3).
await warnIfBroadRedisUser(platform.redis, logger, env.NODE_ENV);

const gateway = await createGateway({
  platform,
  port: env.GATEWAY_PORT,
  host: env.GATEWAY_HOST,
  logger,
  instanceId,
  apiKeys: env.GATEWAY_API_KEYS,
  adminKeys: env.GATEWAY_ADMIN_API_KEYS,
  rateLimit: { perMinute: env.GATEWAY_RATE_LIMIT_PER_MINUTE, burst: env.GATEWAY_RATE_LIMIT_BURST },
  authFailuresPerMinute: env.GATEWAY_AUTH_FAILURES_PER_MINUTE,
  trustProxy: env.GATEWAY_TRUST_PROXY,
  ...(env.GATEWAY_MAX_CONNECTIONS === undefined ? {} : { maxConnections: env.GATEWAY_MAX_CONNECTIONS }),
  maxConnectionsPerAddress: env.GATEWAY_MAX_CONNECTIONS_PER_ADDRESS,
  keepAliveTimeoutMs: env.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
  ...(env.GATEWAY_SHARED_SECRET === undefined ? {} : { sharedSecret: env.GATEWAY_SHARED_SECRET }),
  upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
  upstreamMaxBodyBytes: env.UPSTREAM_MAX_BODY_BYTES,
  healthCheckIntervalMs: env.HEALTH_CHECK_INTERVAL_MS,
  heartbeatIntervalMs: env.HEARTBEAT_INTERVAL_MS,
}).catch((error: unknown) =>
  failStart(GATEWAY_SERVICE, error, env.GATEWAY_PORT, { variable: "GATEWAY_HOST", host: env.GATEWAY_HOST }),
);
await signalReady(GATEWAY_SERVICE, gateway.url, logger);

shutdownOnSignals({
  logger,
  parent,
  stop: async () => {
    await gateway.stop();
    await platform.close(logger);
    await tracing.shutdown();
  },
});
