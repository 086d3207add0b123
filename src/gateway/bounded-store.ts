/**
 * Bounds every call the gateway's request handlers make to a Redis-backed port (registry, dead
 * letter store). The platform's Redis client waits for a reconnect (maxRetriesPerRequest: null), so
 * with Redis down an unbounded read would hang the request forever; bounded, the client gets 503
 * SERVICE_UNAVAILABLE with Retry-After within `ms`, as the README documents.
 */
import { AppError } from "../lib/http/errors.js";
import { TimeoutError } from "../lib/resilience/errors.js";
import { withTimeout } from "../lib/resilience/timeout.js";

/** Budget of one store call made while answering a request (ms): the 1 s of the store ping. */
export const DEFAULT_STORE_TIMEOUT_MS = 1_000;

/**
 * The same port, with every promise-returning method bounded by `ms`. A call that times out keeps
 * running in the client (a bare promise cannot be cancelled); its result is ignored.
 */
export function boundStore<T extends object>(port: T, ms: number, what: string): T {
  return new Proxy(port, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result: unknown = Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        if (!(result instanceof Promise)) return result;
        return withTimeout(result, ms).catch((error: unknown) => {
          if (!(error instanceof TimeoutError)) throw error;
          throw new AppError(
            "SERVICE_UNAVAILABLE",
            `The ${what} did not answer within ${ms} ms (store unreachable); retry shortly`,
            undefined,
            true,
          );
        });
      };
    },
  });
}
