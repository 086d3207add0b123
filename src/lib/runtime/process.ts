/**
 * The process edge shared by every entry point (services and gateway): refusing a Redis that cannot
 * keep the delivery promises, and stopping gracefully on SIGTERM/SIGINT.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";
import { SIGNING_KEYS_ENV } from "../security/process-keys.js";
import { TOKEN_KEYS_ENV, TOKEN_PUBLIC_KEY_ENV } from "../security/payment-token.js";
import { checkRedisDurability } from "./platform.js";

/** The parts of `process` these helpers use, so tests can pass a fake one. */
export interface ProcessLike {
  on(event: "SIGTERM" | "SIGINT" | "disconnect", listener: () => void): unknown;
  exit(code: number): void;
  /** True when started with an IPC channel to its parent (the launcher, the demo). */
  connected?: boolean;
}

/**
 * Logs every Redis setting that breaks the promises (or that the config could not be read); in
 * production such a Redis is refused: the process exits with 1 rather than lose messages later.
 * Without Redis (the memory platform) there is nothing to check.
 */
export async function guardRedisDurability(
  redis: Redis | undefined,
  logger: Logger,
  nodeEnv: string,
  proc: ProcessLike = process,
  /** How a refusal ends the process (e.g. `failStart`, which also tells the launcher); default exit 1. */
  refuse?: (reason: string) => Promise<unknown>,
): Promise<void> {
  const warnings = redis
    ? await checkRedisDurability(redis).catch((error: unknown) => [
        `cannot read Redis config: ${String(error)}`,
      ])
    : [];
  for (const warning of warnings) logger.warn(warning);
  if (nodeEnv === "production" && warnings.length > 0) {
    const reason = `refusing to start in production on a Redis that cannot keep the delivery promises: ${warnings.join("; ")}`;
    logger.fatal(reason);
    if (refuse) await refuse(reason);
    else proc.exit(1);
  }
}

/**
 * The secrets a service process reads (beyond the gateway's), which must not hold a `.env.example`
 * placeholder in production: checked by every service's main and by `npm start`, which runs them all.
 */
export const SERVICE_SECRET_VARIABLES = [
  "GATEWAY_SHARED_SECRET",
  "REDIS_PASSWORD",
  SIGNING_KEYS_ENV,
  TOKEN_KEYS_ENV,
  TOKEN_PUBLIC_KEY_ENV,
] as const;

export interface ShutdownOptions {
  logger: Logger;
  /** Stops what the process runs, in order (e.g. the service, then the platform). */
  stop: () => Promise<void>;
  /** A shutdown that hangs longer than this exits with 1 anyway. Default 10 s. */
  forceExitMs?: number;
  proc?: ProcessLike;
}

/**
 * On SIGTERM or SIGINT, runs `stop` once (a second signal while stopping is ignored) and exits 0.
 * A process started with an IPC channel (by the launcher or the demo) also stops when the channel
 * closes: its parent died (even by SIGKILL, which it cannot forward), and a system nobody launched
 * any more must not keep running, orphaned. Returns the shutdown function, which a signal calls.
 */
export function shutdownOnSignals(options: ShutdownOptions): (signal: string) => Promise<void> {
  const { logger, stop, forceExitMs = 10_000, proc = process } = options;
  let exiting = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => proc.exit(1), forceExitMs);
    force.unref();
    try {
      await stop();
    } finally {
      clearTimeout(force);
      proc.exit(0);
    }
  };
  proc.on("SIGTERM", () => void shutdown("SIGTERM"));
  proc.on("SIGINT", () => void shutdown("SIGINT"));
  if (proc.connected === true) proc.on("disconnect", () => void shutdown("parent disconnected"));
  return shutdown;
}
