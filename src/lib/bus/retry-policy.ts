/**
 * What the subscriber does with a message whose handler failed: retry it later or dead-letter it.
 * Pure: time and randomness are passed in.
 *
 * - "default": for poison-prone work. A retryable error is retried with a short backoff up to
 *   `maxAttempts` handler attempts, then the message is dead-lettered.
 * - "must-complete": for compensations, refunds, releases: messages that must happen. A retryable
 *   error is retried with capped exponential backoff and jitter for a time window counted from when
 *   the message entered the group's queue; it is never dead-lettered for a transient error inside
 *   that window (an outage is not poison). Once the window is spent it is dead-lettered with a
 *   reason that says so (and logged at error level: the alert).
 * - An outage (`isOutage`: the store unreachable, a reply lost to a dropped connection) is not
 *   poison under either policy: under "default" it is retried like a must-complete message, inside
 *   the must-complete window, without counting against `maxAttempts` (seen: a storm of dropped
 *   Redis connections dead-lettered `user.validation.requested` after 3 lost replies in a second,
 *   failing orders that a retry a few seconds later would have completed).
 * - An error that `waits` (an outcome not known yet: a carrier booking still in flight) is retried
 *   the same way under "default": the handler keeps `maxAttempts` for every other error. Such
 *   retries are recorded as `waited` and a later ordinary error counts only the attempts that
 *   were not (`waitedAttempts`), so they never use up the budget.
 * Non-retryable errors (invalid payload, malformed message) are dead-lettered at once under both.
 * Under both, a retry never comes sooner than the error's `retryAfterMs` hint (a dependency that
 * said when it can be used again, e.g. an open circuit breaker): waiting costs no attempt's worth.
 */
import type { DedupedBy } from "./context.js";
import { isOutage, isRetryable, retryAfterOf, waits } from "./errors.js";

export type DeliveryPolicy = "default" | "must-complete";

/** Options of one handler registration (`subscriber.on(event, handler, options)`). */
export interface HandlerOptions {
  /** Retry policy of the handler's messages (default "default"). */
  policy?: DeliveryPolicy;
  /**
   * How the handler recognises a message it handled before (default `"marks"`: dedupe marks that
   * expire, so a message older than them is refused as `TOO_OLD_TO_DEDUPLICATE`). Say `"record"`
   * only when a late or repeated message is harmless because the handler decides from state kept
   * as long as the system of record (the payment record, by order id) and calls out with a stable
   * idempotency key: then a DLQ replay of any age runs, exactly once in effect.
   */
  dedupedBy?: DedupedBy;
}

export interface RetryPolicy {
  /** Handler attempts before a message is dead-lettered under the default policy (default 3). */
  maxAttempts: number;
  /** Delay in ms before redelivery after failed attempt n (1-based), default policy. */
  backoff: (attempt: number) => number;
  /**
   * Deliveries without any outcome (the consumer crashed or was killed while handling) after which
   * the message is dead-lettered without running it. Given, it holds under every policy; not given,
   * it is `maxAttempts` for the default policy and `MUST_COMPLETE_MAX_SILENT_DELIVERIES` for a
   * must-complete message (the subscriber resolves the latter per message).
   */
  maxSilentDeliveries: number;
}

/**
 * Crash-loop limit of a must-complete message when the subscriber is given none: deliveries that
 * ended with no outcome (the instance holding it was killed or crashed) before it is parked without
 * running. Higher than the default policy's `maxAttempts` (3): a message that must happen rides out
 * a few instance deaths (a rolling restart, an OOM kill of a neighbour's work, a chaos run), and one
 * that really kills its process each time still ends in the DLQ, where an operator sees it.
 */
export const MUST_COMPLETE_MAX_SILENT_DELIVERIES = 10;

export interface MustCompletePolicy {
  /** First retry delay in ms (default 1 s); doubles with every attempt. */
  baseDelayMs: number;
  /** Longest retry delay in ms (default 60 s). */
  maxDelayMs: number;
  /**
   * How long in ms a must-complete message is retried, counted from when it entered the group's
   * queue (default 6 h, env BUS_MUST_COMPLETE_WINDOW_MS): long enough to ride out an outage of a
   * provider or a service; past it the message is dead-lettered (and can be replayed from there).
   */
  windowMs: number;
}

export const DEFAULT_MUST_COMPLETE: MustCompletePolicy = {
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  windowMs: 6 * 3_600_000,
};

/** Exponential backoff with full jitter: 100 ms, 200 ms, 400 ms... capped at 30 s. */
export const defaultBackoff = (attempt: number, random: () => number = Math.random): number =>
  random() * Math.min(30_000, 100 * 2 ** (attempt - 1));

/**
 * Capped exponential backoff with "equal jitter": between half and all of
 * min(maxDelayMs, baseDelayMs * 2^(attempt-1)), so retries spread out but never come at once.
 */
export function mustCompleteBackoff(
  attempt: number,
  policy: MustCompletePolicy,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 30);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return ceiling / 2 + random() * (ceiling / 2);
}

/**
 * `waited` on a retry: the failure spends none of the default policy's `maxAttempts` (an outage,
 * an outcome not known yet, any retry under "must-complete"): the transport records it so.
 */
export type FailureDecision =
  | { action: "retry"; delayMs: number; waited: boolean }
  | { action: "dead-letter"; reason: string; budgetSpent: boolean };

export interface FailureInput {
  error: unknown;
  message: string;
  /** The handler attempt that failed (1-based). */
  attempt: number;
  /**
   * Failed attempts before this one that waited (`Delivery.waitedAttempts`, default 0): the default
   * policy compares only `attempt - waitedAttempts` with `maxAttempts` (seen: two "carrier outcome
   * unknown" retries and one store blip dead-lettered a booking the carrier had made).
   */
  waitedAttempts?: number;
  policy: DeliveryPolicy;
  /**
   * Ms since the message entered the group's queue, on the transport's clock (`Delivery.ageMs`):
   * a duration, so no comparison of this host's clock with another's.
   */
  ageMs: number;
}

/** Retry or dead-letter a failed attempt, and why. */
export function decideOnFailure(
  input: FailureInput,
  retry: RetryPolicy,
  mustComplete: MustCompletePolicy,
  random: () => number = Math.random,
): FailureDecision {
  const { error, message, attempt } = input;
  if (!isRetryable(error))
    return { action: "dead-letter", reason: `not retryable: ${message}`, budgetSpent: false };
  const notBefore = retryAfterOf(error);
  if (input.policy === "must-complete" || isOutage(error) || waits(error)) {
    const delayMs = Math.max(notBefore, mustCompleteBackoff(attempt, mustComplete, random));
    // Retry only when the next attempt still starts inside the window.
    if (input.ageMs + delayMs <= mustComplete.windowMs) return { action: "retry", delayMs, waited: true };
    const window = `${mustComplete.windowMs} ms`;
    return {
      action: "dead-letter",
      reason:
        input.policy === "must-complete"
          ? `must-complete window of ${window} spent after ${attempt} attempts: ${message}`
          : isOutage(error)
            ? `outage outlasted the retry window of ${window} after ${attempt} attempts: ${message}`
            : `outcome still unknown after the retry window of ${window} and ${attempt} attempts: ${message}`,
      budgetSpent: true,
    };
  }
  // Only the attempts that spent budget count: the waiting ones before this failure do not.
  const waited = Math.min(Math.max(0, input.waitedAttempts ?? 0), attempt - 1);
  const spent = attempt - waited;
  if (spent < retry.maxAttempts)
    return { action: "retry", delayMs: Math.max(notBefore, retry.backoff(spent)), waited: false };
  const after = waited > 0 ? ` (after ${waited} ${waited === 1 ? "retry" : "retries"} that waited)` : "";
  return { action: "dead-letter", reason: `failed ${spent} attempts${after}: ${message}`, budgetSpent: true };
}

/** The reason a message is parked without running: it kept taking its consumer down. */
export const crashLoopReason = (silentDeliveries: number): string =>
  `delivered ${silentDeliveries} times without an outcome (the consumer crashed or was killed)`;

/**
 * The crash-loop backstop (break23): a message whose silent runs (`Delivery.silentStartedRuns`: runs
 * whose handler started, explained or not, proven its own or not) reach this many times its crash-loop limit is parked
 * whatever its proven count. It bounds every loop the solo-run count misses: a poison message
 * that never gets a run alone, one that fails and crashes by turns.
 */
export const CRASH_LOOP_BACKSTOP_FACTOR = 3;

/** The reason a message is parked by the backstop: its crashes were never proven its own. */
export const unprovenCrashLoopReason = (silentRuns: number): string =>
  `ran ${silentRuns} times without an outcome (its consumer crashed or was killed, or its handler hung past maxLeaseMs), none proven its own (others ran beside it, or it failed in between): retry it if another message was the cause`;

/**
 * The reason a message is parked by the backstop when some of its silent runs hung (break26 F2):
 * given up at `maxLeaseMs` without returning, not crashed; all of them, or `hungRuns` of them.
 */
export const hungLoopReason = (silentRuns: number, hungRuns: number): string =>
  hungRuns >= silentRuns
    ? `ran ${silentRuns} times without an outcome: its handler hung every time (given up after maxLeaseMs without returning)`
    : `ran ${silentRuns} times without an outcome: its handler hung ${hungRuns} of them (given up after maxLeaseMs without returning); in the others its consumer crashed or was killed, none proven its own: retry it if another message was the cause`;
