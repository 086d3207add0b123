import { CircuitOpenError } from "./errors.js";
import { monotonicNow } from "./monotonic.js";

/**
 * Breaker states as a typed union. The spec writes the middle state `HALF-OPEN`; in code it is
 * `HALF_OPEN` so it can be an identifier everywhere (metric labels, event payloads, enums).
 */
export type CircuitState = "CLOSED" | "OPEN" | "HALF_OPEN";

export interface CircuitStateChange {
  breaker: string;
  from: CircuitState;
  to: CircuitState;
  /** Epoch ms from the breaker's `clock` (a date, for display: never used to time anything). */
  at: number;
}

export interface CircuitBreakerOptions {
  name: string;
  /** Consecutive failures in CLOSED that open the circuit. */
  failureThreshold?: number;
  /** Successful trial calls in HALF_OPEN that close it again. */
  successThreshold?: number;
  /** Milliseconds OPEN before the next call may try (moving to HALF_OPEN). */
  timeout?: number;
  /** Trial calls allowed in flight at once while HALF_OPEN. */
  halfOpenMaxCalls?: number;
  /**
   * Which errors say "the dependency is unhealthy". Others (business outcomes such as a declined
   * card) are rethrown but count as a success: the dependency answered.
   */
  isFailure?: (error: unknown) => boolean;
  /**
   * Ms on a monotonic source, times the open state (default `monotonicNow`). Never a wall clock:
   * a step back of it would hold the circuit open for the step (break22 F2).
   */
  monotonicNow?: () => number;
  /** Epoch ms that dates state changes (`CircuitStateChange.at`), default `Date.now`. */
  clock?: () => number;
  onStateChange?: (change: CircuitStateChange) => void;
}

export interface CircuitSnapshot {
  name: string;
  state: CircuitState;
  /** Consecutive failures while CLOSED. */
  failures: number;
  /** Successful trials while HALF_OPEN. */
  successes: number;
  /** When the circuit last opened (on `monotonicNow`'s scale), or null when it is not open. */
  openedAt: number | null;
  halfOpenInFlight: number;
}

type Listener = (change: CircuitStateChange) => void;

/**
 * A consecutive-failure circuit breaker. Each state change starts a new generation; results of
 * calls that began in an earlier generation are ignored, so a slow call started while CLOSED cannot
 * close (or re-open) a circuit whose state has moved on since.
 */
export class CircuitBreaker {
  readonly name: string;
  private readonly failureThreshold: number;
  private readonly successThreshold: number;
  private readonly timeout: number;
  private readonly halfOpenMaxCalls: number;
  private readonly isFailure: (error: unknown) => boolean;
  private readonly now: () => number;
  private readonly clock: () => number;
  private readonly listeners = new Set<Listener>();
  private current: CircuitState = "CLOSED";
  private generation = 0;
  private failures = 0;
  private successes = 0;
  private openedAt: number | null = null;
  private inFlight = 0;

  constructor(options: CircuitBreakerOptions) {
    this.name = options.name;
    this.failureThreshold = positiveInt("failureThreshold", options.failureThreshold ?? 5);
    this.successThreshold = positiveInt("successThreshold", options.successThreshold ?? 3);
    this.timeout = nonNegative("timeout", options.timeout ?? 30_000);
    this.halfOpenMaxCalls = positiveInt("halfOpenMaxCalls", options.halfOpenMaxCalls ?? 1);
    this.isFailure = options.isFailure ?? (() => true);
    this.now = options.monotonicNow ?? monotonicNow;
    this.clock = options.clock ?? Date.now;
    if (options.onStateChange) this.listeners.add(options.onStateChange);
  }

  get state(): CircuitState {
    return this.current;
  }

  /** Whether a call made now would run. No side effects: load balancers use it to skip open breakers. */
  canExecute(): boolean {
    if (this.current === "CLOSED") return true;
    if (this.current === "OPEN") return this.openTimeoutElapsed();
    return this.inFlight < this.halfOpenMaxCalls;
  }

  async execute<T>(fn: () => Promise<T>): Promise<T> {
    this.admit();
    const generation = this.generation;
    const trial = this.current === "HALF_OPEN";
    if (trial) this.inFlight++;
    try {
      const result = await fn();
      this.settle(generation, trial, true);
      return result;
    } catch (error) {
      this.settle(generation, trial, !this.isFailure(error));
      throw error;
    }
  }

  /**
   * Ms until an OPEN circuit lets a trial through (0 when not open), at most the open `timeout`:
   * a wait a caller schedules a retry by never exceeds the breaker's own timeout.
   */
  retryAfterMs(): number {
    if (this.current !== "OPEN") return 0;
    return Math.min(this.timeout, Math.max(0, (this.openedAt ?? 0) + this.timeout - this.now()));
  }

  snapshot(): CircuitSnapshot {
    return {
      name: this.name,
      state: this.current,
      failures: this.failures,
      successes: this.successes,
      openedAt: this.openedAt,
      halfOpenInFlight: this.inFlight,
    };
  }

  /** Force the circuit CLOSED with clean counters (operator action or tests). */
  reset(): void {
    this.transition("CLOSED");
  }

  /** Subscribe to state changes; returns the unsubscribe function. */
  on(event: "stateChange", listener: Listener): () => void {
    if (event !== "stateChange") throw new TypeError(`Unknown circuit breaker event "${String(event)}"`);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** Throws CircuitOpenError when the call may not run; moves OPEN → HALF_OPEN once the timeout passed. */
  private admit(): void {
    if (this.current === "OPEN") {
      if (!this.openTimeoutElapsed()) {
        throw new CircuitOpenError(this.name, this.retryAfterMs());
      }
      this.transition("HALF_OPEN");
    }
    if (this.current === "HALF_OPEN" && this.inFlight >= this.halfOpenMaxCalls) {
      throw new CircuitOpenError(this.name, 0);
    }
  }

  private settle(generation: number, trial: boolean, ok: boolean): void {
    if (generation !== this.generation) return;
    if (trial) this.inFlight--;
    if (this.current === "CLOSED") {
      this.failures = ok ? 0 : this.failures + 1;
      if (this.failures >= this.failureThreshold) this.transition("OPEN");
    } else if (this.current === "HALF_OPEN") {
      if (!ok) this.transition("OPEN");
      else if (++this.successes >= this.successThreshold) this.transition("CLOSED");
    }
  }

  private openTimeoutElapsed(): boolean {
    return this.now() - (this.openedAt ?? 0) >= this.timeout;
  }

  private transition(to: CircuitState): void {
    const from = this.current;
    this.current = to;
    this.generation++;
    this.failures = 0;
    this.successes = 0;
    this.inFlight = 0;
    this.openedAt = to === "OPEN" ? this.now() : null;
    if (from === to) return;
    const change: CircuitStateChange = { breaker: this.name, from, to, at: this.clock() };
    for (const listener of [...this.listeners]) {
      // A faulty observer must not change the outcome of the protected call.
      try {
        listener(change);
      } catch {
        // ignored on purpose
      }
    }
  }
}

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function nonNegative(name: string, value: number): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number`);
  return value;
}
