/** The gateway process's environment, with the spec's names and defaults. */
import { z } from "zod";
import { tracingEnvShape } from "../lib/runtime/config.js";

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
const positiveMs = z.coerce.number().int().positive();

export const gatewayEnvSchema = z.object({
  ...tracingEnvShape,
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  /** Address to bind; also announced in the registry unless it is 0.0.0.0 / ::. */
  GATEWAY_HOST: z.string().min(1).default("127.0.0.1"),
  REDIS_URL: z.string().url().default("redis://localhost:6379"),
  LOG_LEVEL: z.enum(LOG_LEVELS).default("info"),
  /** How long (ms) to wait for Redis at start before exiting 1 with the reason (later drops reconnect). */
  REDIS_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
  /** Comma-separated API keys; empty or unset turns authentication off. */
  GATEWAY_API_KEYS: z
    .string()
    .optional()
    .transform((value) =>
      (value ?? "")
        .split(",")
        .map((key) => key.trim())
        .filter((key) => key !== ""),
    ),
  UPSTREAM_TIMEOUT_MS: positiveMs.default(10_000),
  /** 5 s (the spec said 60 s): a dead instance shows as unhealthy within seconds. */
  HEALTH_CHECK_INTERVAL_MS: positiveMs.default(5_000),
  HEARTBEAT_INTERVAL_MS: positiveMs.default(30_000),
  INSTANCE_ID: z.string().min(1).optional(),
  /** "production" refuses to start on a Redis that cannot keep the delivery promises. */
  NODE_ENV: z.string().default("development"),
});

export type GatewayEnv = z.output<typeof gatewayEnvSchema>;
