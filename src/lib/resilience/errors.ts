/**
 * Errors raised by resilience policies. They carry a stable `code` and a `retryable` flag with the
 * same shape as the bus errors, so `isRetryable`/`describeError` treat them alike without this
 * module importing the bus (library modules stay independent of each other).
 */
export class ResilienceError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ResilienceError";
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The breaker refused the call without running it. Retryable: the dependency may recover. */
export class CircuitOpenError extends ResilienceError {
  readonly breaker: string;
  /** How long until the breaker lets a trial call through; 0 when trial slots are merely busy. */
  readonly retryAfterMs: number;

  constructor(breaker: string, retryAfterMs: number) {
    super("CIRCUIT_OPEN", `Circuit "${breaker}" is open; retry in ${retryAfterMs}ms`, { retryable: true });
    this.name = "CircuitOpenError";
    this.breaker = breaker;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The work did not settle within its time budget. */
export class TimeoutError extends ResilienceError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, message = `Timed out after ${timeoutMs}ms`) {
    super("TIMEOUT", message, { retryable: true });
    this.name = "TimeoutError";
    this.timeoutMs = timeoutMs;
  }
}
