/**
 * The order service's configuration from the environment, and the rule that ties the saga's step
 * deadline to the bus's takeover time: a step must outlive the time it takes another instance to
 * take over a dead consumer's message (`CLAIM_IDLE_MS`) plus the time to process it, or a `kill -9`
 * of one instance fails orders that would have completed.
 */
import { z } from "zod";
import { ConfigError, parseEnv, serviceEnvSchema, timerMs } from "../../lib/runtime/config.js";
import { DEFAULT_AOF_REWRITE_INTERVAL_MS } from "../../lib/security/aof-compactor.js";
import { SEAL_FORMATS, type SealFormat } from "../../lib/security/payment-token.js";
import { DEFAULT_SAGA_OPTIONS } from "./saga-model.js";

/**
 * Processing time a step may need after its message was taken over, in ms: a reply's handler plus the
 * takeover scan interval and a provider call with its timeout (2 s) and retrieve-by-key (1.4 s).
 */
export const STEP_PROCESSING_BUDGET_MS = 10_000;

/**
 * Margin (ms) an orphan grace must keep past a takeover and the saga's step: the external system's
 * 60 s in-flight lease (the payment provider's, the carrier's), during which a stalled handler's call
 * may still be completing.
 */
export const ORPHAN_GRACE_MARGIN_MS = 60_000;

/**
 * Why the grace (ms) of an orphan pass over an external system (`variable`: `PAYMENT_ORPHAN_GRACE_MS`,
 * `SHIPPING_ORPHAN_GRACE_MS`) is too short, or undefined when it is long enough (break15 F6): a call
 * whose handler stalled is finished by another instance after `CLAIM_IDLE_MS` plus a step's
 * processing, and the saga compensates by itself after `SAGA_STEP_TIMEOUT_MS`; a grace that does not
 * outlast both (plus the margin) undoes a live order's effect and fails a good order.
 */
export function orphanGraceProblemOf(
  variable: string,
  graceMs: number,
  claimIdleMs: number,
  stepTimeoutMs: number,
): string | undefined {
  const needed = Math.max(claimIdleMs + STEP_PROCESSING_BUDGET_MS, stepTimeoutMs) + ORPHAN_GRACE_MARGIN_MS;
  if (graceMs > needed) return undefined;
  return (
    `${variable} (${graceMs} ms) must exceed CLAIM_IDLE_MS (${claimIdleMs} ms) plus ` +
    `${STEP_PROCESSING_BUDGET_MS} ms of processing, and SAGA_STEP_TIMEOUT_MS (${stepTimeoutMs} ms), ` +
    `by ${ORPHAN_GRACE_MARGIN_MS} ms, or a stalled instance's live orders are undone as orphans`
  );
}

const orderEnvSchema = serviceEnvSchema.pick({ CLAIM_IDLE_MS: true }).extend({
  /** Deadline of each saga step, ms. */
  SAGA_STEP_TIMEOUT_MS: z.coerce.number().int().positive().default(DEFAULT_SAGA_OPTIONS.stepTimeoutMs),
  /** Time compensations have to be confirmed before `compensation_failed`, ms. */
  SAGA_COMPENSATION_WINDOW_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(DEFAULT_SAGA_OPTIONS.compensationWindowMs),
  /** Folded orders kept in memory per repository (default 10,000). */
  ORDER_CACHE_SIZE: z.coerce.number().int().positive().optional(),
  /**
   * How long a POST /orders Idempotency-Key is remembered, ms (default 24 h). The soak sets one
   * transient window, so its `{order}:idem:*` records reach a steady state inside the run.
   */
  ORDER_IDEMPOTENCY_TTL_MS: timerMs.optional(),
  /**
   * Least time between two AOF rewrites the service asks for after shredding payment token keys,
   * ms (default 60 s): how long a shredded key can stay in the AOF (docs/security.md).
   */
  SHRED_AOF_REWRITE_INTERVAL_MS: timerMs.default(DEFAULT_AOF_REWRITE_INTERVAL_MS),
  /**
   * The payment token entry format written: `v2` (default, one agreement per batch) or `v1` (a key
   * pair per token), which a payment service older than v2 opens; `v1` until every payment
   * instance runs a version that opens v2 (docs/security.md, "Upgrading").
   */
  PAYMENT_TOKEN_SEAL_FORMAT: z.enum(SEAL_FORMATS).default("v2"),
});

export interface OrderConfig {
  stepTimeoutMs: number;
  compensationWindowMs: number;
  /** Unset: the repository's default (10,000). */
  cacheSize?: number;
  /** Unset: the routes' default (24 h). */
  idempotencyTtlMs?: number;
  aofRewriteIntervalMs: number;
  tokenSealFormat: SealFormat;
}

/** Why a step deadline is too short for a takeover time, or undefined when it is long enough. */
export function stepBudgetProblem(stepTimeoutMs: number, claimIdleMs: number): string | undefined {
  const needed = claimIdleMs + STEP_PROCESSING_BUDGET_MS;
  if (stepTimeoutMs > needed) return undefined;
  return (
    `SAGA_STEP_TIMEOUT_MS (${stepTimeoutMs} ms) must exceed CLAIM_IDLE_MS (${claimIdleMs} ms) plus ` +
    `${STEP_PROCESSING_BUDGET_MS} ms of processing, or a killed instance's in-flight orders time out`
  );
}

/**
 * Reads and checks the order service's variables (`SAGA_STEP_TIMEOUT_MS`,
 * `SAGA_COMPENSATION_WINDOW_MS`, `ORDER_CACHE_SIZE`, `ORDER_IDEMPOTENCY_TTL_MS`, `SHRED_AOF_REWRITE_INTERVAL_MS`,
 * `PAYMENT_TOKEN_SEAL_FORMAT`); throws `ConfigError` listing every problem.
 * The one reader for both the process (`main.ts`) and the embedded system (catalog).
 */
export function orderConfigFromEnv(env: NodeJS.ProcessEnv = process.env): OrderConfig {
  const parsed = parseEnv(orderEnvSchema, env);
  const problem = stepBudgetProblem(parsed.SAGA_STEP_TIMEOUT_MS, parsed.CLAIM_IDLE_MS);
  if (problem) throw new ConfigError([{ path: ["SAGA_STEP_TIMEOUT_MS"], message: problem }]);
  return {
    stepTimeoutMs: parsed.SAGA_STEP_TIMEOUT_MS,
    compensationWindowMs: parsed.SAGA_COMPENSATION_WINDOW_MS,
    ...(parsed.ORDER_CACHE_SIZE === undefined ? {} : { cacheSize: parsed.ORDER_CACHE_SIZE }),
    ...(parsed.ORDER_IDEMPOTENCY_TTL_MS === undefined
      ? {}
      : { idempotencyTtlMs: parsed.ORDER_IDEMPOTENCY_TTL_MS }),
    aofRewriteIntervalMs: parsed.SHRED_AOF_REWRITE_INTERVAL_MS,
    tokenSealFormat: parsed.PAYMENT_TOKEN_SEAL_FORMAT,
  };
}
