/**
 * `npm start`: the whole system in one process (in-memory, or Redis when REDIS_URL is set: then with
 * the development secrets kept for that Redis in .dev-secrets/, see dev-secrets.ts). Reads the
 * gateway's environment as `npm run start:gateway` does (GATEWAY_PORT, GATEWAY_HOST,
 * GATEWAY_API_KEYS, UPSTREAM_TIMEOUT_MS, HEALTH_CHECK_INTERVAL_MS, LOG_LEVEL, REDIS_CONNECT_TIMEOUT_MS).
 * Its services always take free ports (SERVICE_PORT: embedded-ports.ts).
 */
import { assertSafeGatewayConfig, gatewayEnvSchema } from "../gateway/config.js";
import { createLogger } from "../lib/observability/logger.js";
import type { TransportLogger } from "../lib/bus/transports/redis-streams-support.js";
import { parseEnv } from "../lib/runtime/config.js";
import { guardRedisDurability } from "../lib/runtime/process.js";
import { placeholderMessage, placeholderVariables } from "../lib/security/placeholders.js";
import { configOrFail, failStart } from "../lib/runtime/launch-signal.js";
import { createRedisPlatform } from "../lib/runtime/platform.js";
import { checkRedisPassword, REDIS_PASSWORD_CHECK_MS, redisLogin } from "../lib/runtime/redis-password.js";
import { waitForRedis } from "../lib/runtime/redis-ready.js";
import { ResendGuardRedis } from "../lib/redis/resend-guard.js";
import { retentionEnvSchema, retentionFromEnv } from "../lib/runtime/retention.js";
import { initTracing } from "../lib/observability/tracing.js";
import { isCredentialsRejection } from "../lib/runtime/redis-credentials.js";
import { applyDevSecrets, redisConnectTimeoutMs } from "./dev-secrets-start.js";
import { startEmbeddedSystem } from "./embedded.js";
import { embeddedServicePortNote } from "./embedded-ports.js";
import type { SlotClaim } from "./launch-guard.js";

// Over Redis, the development secrets kept for that Redis (dev-secrets.ts), as start:services uses:
// made up anew on every start, the users sealed by the previous start answered 500
// USER_DATA_UNREADABLE, the email index no longer matched and pending bus messages failed their
// signature. Before anything reads them (the gateway's settings below, the keys at service start).
// The in-memory mode keeps nothing across starts, so it needs nothing kept. Empty in production.
const redisUrl = process.env.REDIS_URL?.trim();
// Not in production (configured keys only): there the start's own checks come first (placeholders,
// fail-closed), before Redis is asked anything.
let slot: SlotClaim | undefined;
// The development secrets' fingerprint, made permanent once the system is up (dev-secrets.ts).
let confirmSecrets = async (): Promise<void> => {};
// Instead, when the start fails after the secrets step: what it wrote was written with them, so the
// fingerprint is made permanent all the same (DevSecrets.abandon).
let abandonSecrets = async (): Promise<void> => {};
if (redisUrl && process.env.NODE_ENV !== "production") {
  // A password for a Redis that has none (newuser9 F5): one line, and every connection goes
  // without it (ioredis printed its raw warning per connection). Production refuses: below.
  const configured = redisLogin({
    REDIS_URL: redisUrl,
    REDIS_USERNAME: process.env.REDIS_USERNAME || undefined,
    REDIS_PASSWORD: process.env.REDIS_PASSWORD || undefined,
  });
  const timeoutMs = await configOrFail("Ordersaga", () => redisConnectTimeoutMs());
  const login = await checkRedisPassword(configured, {
    production: false,
    warn: (message) => process.stderr.write(`Ordersaga: ${message}\n`),
    timeoutMs: Math.min(timeoutMs, REDIS_PASSWORD_CHECK_MS),
  });
  if (login !== configured) {
    process.env.REDIS_URL = login.url;
    delete process.env.REDIS_PASSWORD;
  }
  // The secrets whose fingerprint this Redis holds, whatever the URL's spelling; none matching:
  // refused in one line (newuser7 F5). A short connection as the platform's own user.
  const probe = new ResendGuardRedis(login.url, {
    maxRetriesPerRequest: 1,
    ...(process.env.REDIS_USERNAME ? { username: process.env.REDIS_USERNAME } : {}),
    ...(process.env.REDIS_PASSWORD ? { password: process.env.REDIS_PASSWORD } : {}),
  });
  probe.on("error", () => {});
  // A system already running over this Redis (npm start or start:services) is refused, as
  // start:services refuses, instead of silently joining its consumer groups with a second gateway
  // (break-svc7 F4). Then the launcher slot start:services takes, held while this runs: two
  // starting at once cannot both come up (break-late7 F2). Not with a Redis user of its own (no
  // right to it). REDIS_CONNECT_TIMEOUT_MS read by the shared rule first (a bad value: one line).
  const started = await configOrFail("Ordersaga", async () =>
    applyDevSecrets(probe, login.url, {
      timeoutMs: redisConnectTimeoutMs(),
      ...(process.env.REDIS_USERNAME ? {} : { slot: { wanted: undefined } }),
    }),
  );
  slot = started.slot;
  // Kept open until the fingerprint is confirmed (its claim is renewed over it), and while the
  // slot is held (its lease too).
  confirmSecrets = () =>
    started.confirm().finally(() => {
      if (!slot) probe.disconnect();
    });
  abandonSecrets = () => started.abandon();
}
/** failStart once the secrets are applied: their fingerprint made permanent first (see above). */
const fail = async (...args: Parameters<typeof failStart>): Promise<never> => {
  await abandonSecrets();
  return failStart(...args);
};
// A bad variable is one line naming it, exit 1: never a stack trace.
const env = await configOrFail("Ordersaga", () => parseEnv(gatewayEnvSchema));
// SERVICE_PORT checked as by any process; a port number is named as unused (embedded-ports.ts).
const servicePortNote = await configOrFail("Ordersaga", () => embeddedServicePortNote());
if (servicePortNote !== undefined) process.stderr.write(`Ordersaga: ${servicePortNote}\n`);
// The production checks of every process it runs (fail closed, as start:gateway and start:<service>
// do): API keys, no `.env.example` placeholder as a secret, a Redis that keeps the promises (below);
// and Redis itself, as the in-memory mode loses every order at exit.
try {
  assertSafeGatewayConfig(env, { embedded: true });
  if (env.NODE_ENV === "production") {
    const placeholders = placeholderVariables(process.env);
    if (placeholders.length > 0) throw new Error(placeholderMessage(placeholders));
    if (!process.env.REDIS_URL)
      throw new Error(
        "refusing to start in production in memory mode (every order is lost at exit): set REDIS_URL " +
          "to a Redis with AOF and noeviction, or unset NODE_ENV to try the system",
      );
  }
} catch (error) {
  await fail("Ordersaga", error, env.GATEWAY_PORT);
}
// One process, one tracer provider: every service's spans carry service.name "ordersaga" here
// (span names and attributes still tell them apart). A no-op unless tracing is enabled.
const tracing = await configOrFail("Ordersaga", () => initTracing({ service: "ordersaga" }));
const retention = await configOrFail("Ordersaga", () => retentionFromEnv(parseEnv(retentionEnvSchema)));
// Production: a password for a Redis that has none is refused (probably the wrong Redis).
if (process.env.REDIS_URL && env.NODE_ENV === "production") {
  await checkRedisPassword(redisLogin(env), {
    production: true,
    warn: () => undefined,
    timeoutMs: Math.min(env.REDIS_CONNECT_TIMEOUT_MS, REDIS_PASSWORD_CHECK_MS),
  }).catch((error: unknown) => fail("Ordersaga", error, env.GATEWAY_PORT));
}
// Until Redis first answers, its retries are not logged: waitForRedis names the reason once.
let connected = false;
const platform = process.env.REDIS_URL
  ? createRedisPlatform({
      url: env.REDIS_URL,
      // The same Redis user as the gateway's own process would use (docs/security.md).
      ...(env.REDIS_USERNAME === undefined ? {} : { username: env.REDIS_USERNAME }),
      ...(env.REDIS_PASSWORD === undefined ? {} : { password: env.REDIS_PASSWORD }),
      retention,
      // The transports' own lines (a group found missing, a lease lost...) under the system's name,
      // not the first service's: the services share this platform (newuser17 F7).
      logger: createLogger({ service: "ordersaga", level: env.LOG_LEVEL }) as unknown as TransportLogger,
      onError: (error) => {
        if (!connected) return;
        process.stderr.write(`redis connection error: ${error.message}\n`);
        // Refused credentials never recover (redis-credentials.ts): end, visibly, instead of retrying.
        if (isCredentialsRejection(error)) process.exit(1);
      },
    })
  : undefined;
await waitForRedis(platform?.redis, env.REDIS_CONNECT_TIMEOUT_MS).catch((error: unknown) =>
  fail("Ordersaga", error),
);
connected = true;
await guardRedisDurability(
  platform?.redis,
  createLogger({ service: "ordersaga", level: env.LOG_LEVEL }),
  env.NODE_ENV,
  process,
  (reason) => fail("Ordersaga", new Error(reason), env.GATEWAY_PORT),
);
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
  authFailuresPerMinute: env.GATEWAY_AUTH_FAILURES_PER_MINUTE,
  trustProxy: env.GATEWAY_TRUST_PROXY,
  connectionLimits: {
    ...(env.GATEWAY_MAX_CONNECTIONS === undefined ? {} : { maxConnections: env.GATEWAY_MAX_CONNECTIONS }),
    maxConnectionsPerAddress: env.GATEWAY_MAX_CONNECTIONS_PER_ADDRESS,
    keepAliveTimeoutMs: env.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
  },
}).catch((error: unknown) =>
  fail("Ordersaga", error, env.GATEWAY_PORT, { variable: "GATEWAY_HOST", host: env.GATEWAY_HOST }),
);
// Up: its data is written with these secrets, so their fingerprint becomes permanent.
await confirmSecrets().catch((error: unknown) => failStart("Ordersaga", error));
const where = [
  ["gateway", system.gatewayUrl],
  ...system.services.map((s) => [s.name, s.url] as const),
] as const;
const width = Math.max(...where.map(([name]) => name.length));
const auth = env.GATEWAY_API_KEYS.length > 0 ? ` -H "x-api-key: <one of GATEWAY_API_KEYS>"` : "";
// On stdout through the logs' own stream: after every start-up line, in one piece (pino writes in
// the background, so console.log came out between them).
system.print(
  `\nOrdersaga is up (${system.platform.mode} mode):\n` +
    where.map(([name, url]) => `  ${name.padEnd(width)}  ${url}`).join("\n") +
    `\n  metrics of everything: ${system.gatewayUrl}/metrics\n  try: curl${auth} ${system.gatewayUrl}/inventory\n\n`,
);

let stopping = false;
const shutdown = async () => {
  if (stopping) return;
  stopping = true;
  await system.stop();
  await tracing.shutdown();
  await slot?.release();
  process.exit(0);
};
process.on("SIGINT", () => void shutdown());
process.on("SIGTERM", () => void shutdown());
