import { type BackoffFn, exponentialBackoff } from "./backoff.js";

export interface RetryOptions {
  /** Total attempts including the first one. */
  maxAttempts?: number;
  backoff?: BackoffFn;
  /** Defaults to the error's own `retryable` flag, or true when it has none. */
  shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Injected so tests run without real time passing. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  signal?: AbortSignal;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/** Same rule as the bus: an error says whether retrying can help; unknown errors may. */
export function isRetryableError(error: unknown): boolean {
  if (error && typeof error === "object" && "retryable" in error) {
    return Boolean((error as { retryable: unknown }).retryable);
  }
  return true;
}

/**
 * Runs `fn` until it succeeds, a failure is not retryable, or attempts run out; then rethrows
 * the last error unchanged, so callers see the real cause and its code.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError("maxAttempts must be ≥ 1");
  const backoff = options.backoff ?? exponentialBackoff();
  const shouldRetry = options.shouldRetry ?? isRetryableError;
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || !shouldRetry(error, attempt)) throw error;
      const delayMs = backoff(attempt);
      options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, options.signal);
    }
  }
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
