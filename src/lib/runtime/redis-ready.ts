/**
 * Waiting for Redis at start, bounded. ioredis reconnects forever (what a running process wants: a
 * Redis that restarts LATER is reconnected to), so a process started while Redis is unreachable would
 * otherwise hang and log every retry. At start we wait at most `timeoutMs`, then fail with the last
 * connection error, which `startFailureReason` turns into one line a person can act on.
 */
import type { Redis } from "ioredis";

/** Default start wait (ms): long enough for a Redis started alongside (compose), short for a typo. */
export const DEFAULT_REDIS_CONNECT_TIMEOUT_MS = 10_000;

export class RedisUnreachableError extends Error {
  readonly code: string;

  constructor(lastError: Error | undefined, timeoutMs: number) {
    super(
      lastError
        ? lastError.message
        : `no answer within ${timeoutMs} ms (REDIS_CONNECT_TIMEOUT_MS); connect ETIMEDOUT`,
    );
    this.name = "RedisUnreachableError";
    const code = (lastError as { code?: unknown } | undefined)?.code;
    this.code = typeof code === "string" ? code : "ETIMEDOUT";
  }
}

/**
 * Resolves once `redis` is ready; rejects with a RedisUnreachableError (carrying the last connection
 * error, e.g. `connect ECONNREFUSED 127.0.0.1:6379`) if it is not within `timeoutMs`. Without Redis
 * (the memory platform) there is nothing to wait for.
 */
export function waitForRedis(
  redis: Redis | undefined,
  timeoutMs: number = DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
): Promise<void> {
  if (!redis || redis.status === "ready") return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (error: Error) => {
      lastError = error;
    };
    const done = () => {
      clearTimeout(timer);
      redis.off("error", onError);
      redis.off("ready", onReady);
    };
    const onReady = () => {
      done();
      resolve();
    };
    const timer = setTimeout(() => {
      done();
      reject(new RedisUnreachableError(lastError, timeoutMs));
    }, timeoutMs);
    redis.on("error", onError);
    redis.on("ready", onReady);
  });
}
