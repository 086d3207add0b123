/** The gateway process's environment, with the spec's names and defaults. */
import { z } from "zod";
import { nodeEnvSchema, redisUrlSchema, timerMs, tracingEnvShape } from "../lib/runtime/config.js";
import { MIN_SECRET_LENGTH, placeholderMessage, placeholderVariables } from "../lib/security/placeholders.js";
import { DEFAULT_MAX_CONNECTIONS_PER_ADDRESS, GATEWAY_KEEP_ALIVE_TIMEOUT_MS } from "./connection-limits.js";
import { parseTrustProxy } from "./trust-proxy.js";
import { DEFAULT_MAX_BODY_BYTES } from "./upstream-call.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/**
 * Shortest API key production accepts (characters): a bearer secret checked online, with the floor
 * of every secret an operator makes (MIN_SECRET_LENGTH, placeholders.ts, says why 32).
 */
export const MIN_API_KEY_LENGTH = MIN_SECRET_LENGTH;
const keyList = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? "")
      .split(",")
      .map((key) => key.trim())
      .filter((key) => key !== ""),
  );

export const gatewayEnvSchema = z.object({
  ...tracingEnvShape,
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  /** Address to bind; also announced in the registry unless it is 0.0.0.0 / ::. */
  GATEWAY_HOST: z.string().min(1).default("127.0.0.1"),
  /** Empty counts as unset: the default here, the in-memory system for `npm start`. */
  REDIS_URL: redisUrlSchema,
  /** Redis ACL user this process connects as (docs/security.md "Redis ACL"); default: the URL's. */
  REDIS_USERNAME: z.string().min(1).optional(),
  /** Password of REDIS_USERNAME (keep it in an env file that is not committed). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** How long (ms) to wait for Redis at start before exiting 1 with the reason (later drops reconnect). */
  REDIS_CONNECT_TIMEOUT_MS: timerMs.default(10_000),
  /** Comma-separated client API keys; with no admin key either, authentication is off. */
  GATEWAY_API_KEYS: keyList,
  /** Comma-separated admin API keys: also catalog changes, restock, the DLQ and `/services`. */
  GATEWAY_ADMIN_API_KEYS: keyList,
  /** "1": start with NODE_ENV=production and no API key (every route open); refused otherwise. */
  GATEWAY_ALLOW_NO_AUTH: z.enum(["0", "1", ""]).default(""),
  /** Sustained requests per minute per API key (0: no limit); over it, 429 RATE_LIMITED. */
  GATEWAY_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(1_200),
  /** Requests one API key may send at once before the per-minute rate applies. */
  GATEWAY_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(200),
  /**
   * Failed authentications (no key or a wrong one) one client address may make at once, then per
   * minute, before every route needing a key answers it 429 RATE_LIMITED (0: never throttled).
   */
  GATEWAY_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(0).default(10),
  /**
   * The proxies (load balancers) in front of the gateway whose X-Forwarded-For it believes: IP
   * addresses, CIDRs or loopback/linklocal/uniquelocal, comma-separated (trust-proxy.ts). Unset,
   * empty or `off`: none, the TCP peer is the client. A hop count or `true` is refused at start.
   */
  GATEWAY_TRUST_PROXY: z
    .string()
    .optional()
    .transform((value, ctx) => {
      try {
        return parseTrustProxy(value ?? "");
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /**
   * Secret the gateway signs every call to a service with (`X-Gateway-Auth`); services set to the
   * same secret refuse calls without it. At least 32 characters; required with NODE_ENV=production.
   */
  GATEWAY_SHARED_SECRET: z.string().min(MIN_SECRET_LENGTH).optional(),
  /** Client connections open at once; unset: half the open-files limit (connection-limits.ts); 0: none. */
  GATEWAY_MAX_CONNECTIONS: z.coerce.number().int().min(0).optional(),
  /** Client connections open at once from one address (trusted proxies excepted); 0: no limit. */
  GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(0)
    .default(DEFAULT_MAX_CONNECTIONS_PER_ADDRESS),
  /** Idle time (ms) before a kept-alive client socket is closed. */
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: timerMs.default(GATEWAY_KEEP_ALIVE_TIMEOUT_MS),
  UPSTREAM_TIMEOUT_MS: timerMs.default(10_000),
  /** Largest answer body read from an instance (10 MiB); over it, 502 UPSTREAM_BODY_TOO_LARGE. */
  UPSTREAM_MAX_BODY_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_BODY_BYTES),
  /** 5 s (the spec said 60 s): a dead instance shows as unhealthy within seconds. */
  HEALTH_CHECK_INTERVAL_MS: timerMs.default(5_000),
  HEARTBEAT_INTERVAL_MS: timerMs.default(30_000),
  INSTANCE_ID: z.string().min(1).optional(),
  /** "production" refuses to start on a Redis that cannot keep the delivery promises. */
  NODE_ENV: nodeEnvSchema,
});

export type GatewayEnv = z.output<typeof gatewayEnvSchema>;

/**
 * Fails closed (issue 12 item 4): with NODE_ENV=production the gateway does not start without an
 * API key unless GATEWAY_ALLOW_NO_AUTH=1 says so, nor without GATEWAY_SHARED_SECRET (the services
 * would refuse its calls, or, open, be reachable around it; `embedded`: the system in one process
 * makes its own), nor with a `.env.example` placeholder as a secret, nor with an API key shorter
 * than MIN_API_KEY_LENGTH. Throws an Error naming the
 * variable.
 */
export function assertSafeGatewayConfig(env: GatewayEnv, options: { embedded?: boolean } = {}): void {
  if (env.NODE_ENV !== "production") return;
  // Every variable, not a list of secrets (newuser12 F1: a list missed one).
  const placeholders = placeholderVariables({ ...process.env, ...env });
  if (placeholders.length > 0) throw new Error(placeholderMessage(placeholders));
  // break13 F2: a one-character key was accepted while the shared secret needs 32. Only the
  // variable and the count are named: the key itself never reaches a log.
  for (const variable of ["GATEWAY_API_KEYS", "GATEWAY_ADMIN_API_KEYS"] as const) {
    const short = env[variable].filter((key) => key.length < MIN_API_KEY_LENGTH).length;
    if (short > 0) {
      throw new Error(
        `refusing to start in production: ${variable} holds ${short} key(s) shorter than ` +
          `${MIN_API_KEY_LENGTH} characters (make one with: openssl rand -hex 16)`,
      );
    }
  }
  const keys = env.GATEWAY_API_KEYS.length + env.GATEWAY_ADMIN_API_KEYS.length;
  if (keys === 0 && env.GATEWAY_ALLOW_NO_AUTH !== "1") {
    throw new Error(
      "refusing to start in production without API keys: set GATEWAY_API_KEYS / GATEWAY_ADMIN_API_KEYS, " +
        "or GATEWAY_ALLOW_NO_AUTH=1 to serve every route to anyone on purpose",
    );
  }
  // The embedded system makes its own secret for the services in its process.
  if (env.GATEWAY_SHARED_SECRET === undefined && options.embedded !== true) {
    throw new Error(
      "refusing to start in production without GATEWAY_SHARED_SECRET (the services' gateway credential)",
    );
  }
}
