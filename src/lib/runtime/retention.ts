/**
 * How long the system keeps what it only needs for a while (docs/storage.md has every key family
 * and its bound). One policy per process, from the environment, handed to the stores through the
 * platform. Transient marks must outlive every redelivery and compensation window, or a late
 * duplicate would be handled twice; they must not live forever, or Redis (noeviction) fills up.
 */
import { z } from "zod";
import { DEFAULT_AUDIT_RETENTION_MS } from "../dlq/redis-dead-letter-store.js";
import { ConfigError, timerMs } from "./config.js";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface RetentionPolicy {
  /**
   * Lifetime (ms) of per-order dedupe and attempt marks: `{user}:validated:*`, `{payment}:attempt:*`,
   * settled `{inventory}:reservation:*`, the simulated provider's ledger. Default 7 days: far past
   * the bus's must-complete window (6 h, `BUS_MUST_COMPLETE_WINDOW_MS`) and the saga's compensation
   * window (6 h, `SAGA_COMPENSATION_WINDOW_MS`), in which the system itself delivers a message
   * again; at least those two plus a quarter (`MARKER_TTL_MARGIN`: room to retry a dead letter of
   * the window's end) is enforced at start (`markerTtlProblem`). A message older than this
   * (a DLQ retry of a week-old command) is refused, not run: `TOO_OLD_TO_DEDUPLICATE`.
   */
  readonly markerTtlMs: number;
  /** How often (ms) each service trims the streams of the events it owns. Default 60 s. */
  readonly streamTrimIntervalMs: number;
  /**
   * Window (ms) kept in an event stream no consumer group reads (`order.placed`, ...). Default 1 h:
   * a group created later at 0 still finds the recent history. Streams with groups are trimmed
   * below their oldest pending or undelivered entry instead, never by time.
   */
  readonly streamRetentionMs: number;
  /** Most entries (about) kept in a stream no group reads, whatever the window. Default 100,000. */
  readonly streamMaxLenWithoutGroups: number;
  /** Window (ms) of the DLQ audit trail (`{dlq}:audit` and each record's own trail). Default 30 days. */
  readonly dlqAuditRetentionMs: number;
  /**
   * When set, the order view of an order that ended (shipped, delivered, failed, cancelled) longer
   * ago than this (ms) is dropped from the read model; the order's event stream (the system of
   * record) stays and answers for it. Default: unset (keep every view).
   */
  readonly orderViewRetentionMs: number | undefined;
}

export const DEFAULT_RETENTION: RetentionPolicy = Object.freeze({
  markerTtlMs: 7 * DAY_MS,
  streamTrimIntervalMs: 60_000,
  streamRetentionMs: HOUR_MS,
  streamMaxLenWithoutGroups: 100_000,
  dlqAuditRetentionMs: DEFAULT_AUDIT_RETENTION_MS,
  orderViewRetentionMs: undefined,
});

const ms = z.coerce.number().int().positive();

/** Defaults of the windows the marks must outlive (config.ts, the order service's config). */
export const DEFAULT_MUST_COMPLETE_WINDOW_MS = 6 * HOUR_MS;
export const DEFAULT_COMPENSATION_WINDOW_MS = 6 * HOUR_MS;
const count = z.coerce.number().int().min(0);

/** The environment variables of the policy (README: Configuration). */
export const retentionEnvSchema = z.object({
  MARKER_TTL_MS: ms.default(DEFAULT_RETENTION.markerTtlMs),
  // A timer period (setInterval), unlike the TTLs here: capped like every timer (timerMs).
  STREAM_TRIM_INTERVAL_MS: timerMs.default(DEFAULT_RETENTION.streamTrimIntervalMs),
  STREAM_RETENTION_MS: ms.default(DEFAULT_RETENTION.streamRetentionMs),
  STREAM_MAXLEN_WITHOUT_GROUPS: count.default(DEFAULT_RETENTION.streamMaxLenWithoutGroups),
  DLQ_AUDIT_RETENTION_MS: ms.default(DEFAULT_RETENTION.dlqAuditRetentionMs),
  ORDER_VIEW_RETENTION_MS: ms.optional(),
  // Read here only to check MARKER_TTL_MS against them (their owners parse them too).
  BUS_MUST_COMPLETE_WINDOW_MS: ms.default(DEFAULT_MUST_COMPLETE_WINDOW_MS),
  SAGA_COMPENSATION_WINDOW_MS: ms.default(DEFAULT_COMPENSATION_WINDOW_MS),
});

/**
 * How much longer than each redelivery window the marks must live, as a share of the window: a
 * quarter. A message the system gave up on at the end of its window is dead-lettered, and an
 * operator's retry of it is deduplicated only while its marks live: with marks exactly as long as
 * the window that room is 0, and every retry of such a dead letter is refused again as
 * `TOO_OLD_TO_DEDUPLICATE` (break-11 F5: 5 compensations stayed `compensation_failed`). A quarter
 * leaves at least 1.5 h after the default 6 h windows (the default 7-day marks leave 6.75 days).
 */
export const MARKER_TTL_MARGIN = 0.25;

/**
 * Why MARKER_TTL_MS is too short, or undefined. The system delivers a message again, by itself,
 * until its must-complete window or (for a compensation) the saga's compensation window is over:
 * a mark gone before that would let such a redelivery be refused as too old to deduplicate
 * (`TOO_OLD_TO_DEDUPLICATE`) instead of completing. Past the window, a dead letter can be retried
 * for `MARKER_TTL_MARGIN` of it more at least; later DLQ retries are refused.
 */
export function markerTtlProblem(env: z.output<typeof retentionEnvSchema>): string | undefined {
  const windows = [
    ["BUS_MUST_COMPLETE_WINDOW_MS", env.BUS_MUST_COMPLETE_WINDOW_MS],
    ["SAGA_COMPENSATION_WINDOW_MS", env.SAGA_COMPENSATION_WINDOW_MS],
  ] as const;
  const least = (window: number) => Math.ceil(window * (1 + MARKER_TTL_MARGIN));
  const short = windows.filter(([, window]) => env.MARKER_TTL_MS < least(window));
  if (short.length === 0) return undefined;
  const needed = Math.max(...short.map(([, window]) => least(window)));
  return (
    `MARKER_TTL_MS (${env.MARKER_TTL_MS} ms) must be at least ${needed} ms: ${short.map(([name, v]) => `${name} (${v} ms)`).join(" and ")} ` +
    `plus ${MARKER_TTL_MARGIN * 100}% (MARKER_TTL_MARGIN): a message redelivered inside those windows after its dedupe mark ` +
    "expired could not be deduplicated, and a dead letter of the window's end could never be retried"
  );
}

/**
 * The policy of an environment. Throws `ConfigError` for marks shorter than the redelivery windows
 * (`markerTtlProblem`) or a view retention shorter than the marks' lifetime.
 */
export function retentionFromEnv(env: z.output<typeof retentionEnvSchema>): RetentionPolicy {
  const problem = markerTtlProblem(env);
  if (problem) throw new ConfigError([{ path: ["MARKER_TTL_MS"], message: problem }]);
  if (env.ORDER_VIEW_RETENTION_MS !== undefined && env.ORDER_VIEW_RETENTION_MS < env.MARKER_TTL_MS) {
    // Until its marks expire an order's messages may still come back and change it.
    throw new ConfigError([{ path: ["ORDER_VIEW_RETENTION_MS"], message: "must be at least MARKER_TTL_MS" }]);
  }
  return {
    markerTtlMs: env.MARKER_TTL_MS,
    streamTrimIntervalMs: env.STREAM_TRIM_INTERVAL_MS,
    streamRetentionMs: env.STREAM_RETENTION_MS,
    streamMaxLenWithoutGroups: env.STREAM_MAXLEN_WITHOUT_GROUPS,
    dlqAuditRetentionMs: env.DLQ_AUDIT_RETENTION_MS,
    orderViewRetentionMs: env.ORDER_VIEW_RETENTION_MS,
  };
}
