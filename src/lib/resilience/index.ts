/**
 * Resilience policies, one per file: a circuit breaker, exponential backoff with jitter, a
 * timeout, and a retry loop that combines with both. Pure of I/O; time is injectable.
 */

export {
  type BackoffFn,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from "./backoff.js";
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitSnapshot,
  type CircuitState,
  type CircuitStateChange,
} from "./circuit-breaker.js";
export { CircuitOpenError, ResilienceError, TimeoutError } from "./errors.js";
export { abortableSleep, isRetryableError, type RetryOptions, retry } from "./retry.js";
export { type TimedWork, type WithTimeoutOptions, withTimeout } from "./timeout.js";
