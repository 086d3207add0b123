/**
 * `npm start`: the whole system in one process (in-memory, or Redis when REDIS_URL is set). Reads the
 * gateway's environment as `npm run start:gateway` does (GATEWAY_PORT, GATEWAY_HOST,
 * GATEWAY_API_KEYS, UPSTREAM_TIMEOUT_MS, HEALTH_CHECK_INTERVAL_MS, LOG_LEVEL, REDIS_CONNECT_TIMEOUT_MS).
 */
import { assertSafeGatewayConfig, gatewayEnvSchema } from "../gateway/config.js";
import { parseEnv } from "../lib/runtime/config.js";
import { configOrFail, failStart } from "../lib/runtime/launch-signal.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { waitForRedis } from "../lib/runtime/redis-ready.js";
import { retentionEnvSchema, retentionFromEnv } from "../lib/runtime/retention.js";
import { initTracing } from "../lib/observability/tracing.js";
import { startEmbeddedSystem } from "./embedded.js";

// A bad variable is one line naming it, exit 1: never a stack trace.
const env = await configOrFail("Ordersaga", () => parseEnv(gatewayEnvSchema));
try {
  assertSafeGatewayConfig(env, { embedded: true });
} catch (error) {
  await failStart("Ordersaga", error);
}
// One process, one tracer provider: every service's spans carry service.name "ordersaga" here
// (span names and attributes still tell them apart). A no-op unless tracing is enabled.
const tracing = await configOrFail("Ordersaga", () => initTracing({ service: "ordersaga" }));
const retention = await configOrFail("Ordersaga", () => retentionFromEnv(parseEnv(retentionEnvSchema)));
// Until Redis first answers, its retries are not logged: waitForRedis names the reason once.
let connected = false;
const platform = process.env.REDIS_URL
  ? createRedisPlatform({
      url: env.REDIS_URL,
      // The same Redis user as the gateway's own process would use (docs/security.md).
      ...(env.REDIS_USERNAME === undefined ? {} : { username: env.REDIS_USERNAME }),
      ...(env.REDIS_PASSWORD === undefined ? {} : { password: env.REDIS_PASSWORD }),
      retention,
      onError: (error) => {
        if (connected) process.stderr.write(`redis connection error: ${error.message}\n`);
      },
    })
  : undefined;
await waitForRedis(platform?.redis, env.REDIS_CONNECT_TIMEOUT_MS).catch((error: unknown) =>
  failStart("Ordersaga", error),
);
connected = true;
const system = await startEmbeddedSystem({
  gatewayPort: env.GATEWAY_PORT,
  host: env.GATEWAY_HOST,
  ...(platform ? { platform } : {}),
  logLevel: env.LOG_LEVEL,
  apiKeys: env.GATEWAY_API_KEYS,
  adminKeys: env.GATEWAY_ADMIN_API_KEYS,
  ...(env.GATEWAY_SHARED_SECRET === undefined ? {} : { sharedSecret: env.GATEWAY_SHARED_SECRET }),
  upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
  healthCheckIntervalMs: env.HEALTH_CHECK_INTERVAL_MS,
  rateLimit: { perMinute: env.GATEWAY_RATE_LIMIT_PER_MINUTE, burst: env.GATEWAY_RATE_LIMIT_BURST },
}).catch((error: unknown) => failStart("Ordersaga", error, env.GATEWAY_PORT));
const where = [
  ["gateway", system.gatewayUrl],
  ...system.services.map((s) => [s.name, s.url] as const),
] as const;
const width = Math.max(...where.map(([name]) => name.length));
const auth = env.GATEWAY_API_KEYS.length > 0 ? ` -H "x-api-key: <one of GATEWAY_API_KEYS>"` : "";
// After the start-up log lines (pino writes asynchronously), so the banner is not cut by them.
setImmediate(() =>
  console.log(
    `\nOrdersaga is up (${system.platform.mode} mode):\n` +
      where.map(([name, url]) => `  ${name.padEnd(width)}  ${url}`).join("\n") +
      `\n  metrics of everything: ${system.gatewayUrl}/metrics\n  try: curl${auth} ${system.gatewayUrl}/inventory\n`,
  ),
);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await system.stop();
  await tracing.shutdown();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
