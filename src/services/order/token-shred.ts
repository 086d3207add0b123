/**
 * Crypto-shredding at a saga's end, retried: the order's token key (with the payment service's
 * private key it opens the card token) must go when the order ends, not at its 7-day TTL. A delete
 * is idempotent, so a failed one (Redis briefly unreachable, a lost reply) is simply sent again,
 * with backoff, for ~30 s. This is the fast path only: the saga's terminal append also recorded a
 * shred intent, so a delete that still failed, or a process that stopped or died in between, is
 * finished by the shred sweeper of any instance (shred-sweeper.ts; docs/security.md "Crypto-shredding").
 */
import { exponentialBackoff } from "../../lib/resilience/backoff.js";
import { retry, type RetryOptions } from "../../lib/resilience/retry.js";

/** 8 attempts, 250 ms doubling to 8 s (full jitter): at most ~32 s of retrying per order. */
export const SHRED_RETRY = { maxAttempts: 8, backoff: exponentialBackoff({ baseMs: 250, maxMs: 8_000 }) };

/** Deletes the order's token key, retrying failures; rejects with the last error when attempts run out. */
export function shredWithRetry(
  shred: (orderId: string) => Promise<void>,
  orderId: string,
  options: Pick<RetryOptions, "maxAttempts" | "backoff" | "signal" | "onRetry"> = {},
): Promise<void> {
  // Every failure may pass: a delete is safe to repeat whatever the cause.
  return retry(() => shred(orderId), { ...SHRED_RETRY, ...options, shouldRetry: () => true });
}
