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

/** The error of ioredis's SELECT of the URL's database (`ERR DB index is out of range`). */
function isSelectError(error: Error): boolean {
  const command = (error as { command?: { name?: unknown } }).command;
  return command?.name === "select" || /DB index is out of range|invalid DB index/i.test(error.message);
}

/**
 * Resolves once `redis` is ready; rejects with a RedisUnreachableError (carrying the last connection
 * error, e.g. `connect ECONNREFUSED 127.0.0.1:6379`) if it is not within `timeoutMs`, and at once
 * with Redis's error when the URL's database cannot be selected. Without Redis
 * (the memory platform) there is nothing to wait for.
 */
export function waitForRedis(
  redis: Redis | undefined,
  timeoutMs: number = DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
): Promise<void> {
  if (!redis) return Promise.resolve();
  // Ready, then the database checked once more (the SELECT error may have come before we listened).
  const db = Number(redis.options.db ?? 0);
  const selected = () => (db === 0 ? Promise.resolve() : redis.select(db).then(() => undefined));
  if (redis.status === "ready") return selected();
  return new Promise<void>((resolve, reject) => {
    let lastError: Error | undefined;
    const onError = (error: Error) => {
      lastError = error;
      // A database the server does not have (`redis://host/99`): ioredis reports the failed SELECT
      // and goes on in database 0, another system's data. Never retried: refuse at once.
      if (isSelectError(error)) {
        done();
        reject(error);
      }
    };
    const done = () => {
      clearTimeout(timer);
      redis.off("error", onError);
      redis.off("ready", onReady);
    };
    const onReady = () => {
      done();
      selected().then(resolve, reject);
    };
    const timer = setTimeout(() => {
      done();
      reject(new RedisUnreachableError(lastError, timeoutMs));
    }, timeoutMs);
    redis.on("error", onError);
    redis.on("ready", onReady);
  });
}
