/**
 * Failed-authentication throttle per client address (break13 F2: wrong-key guesses were answered
 * 401 forever, never slowed down; the per-key rate limit only knows authenticated callers).
 *
 * A token bucket per address: `perMinute` failures at once, refilled at `perMinute` a minute. An
 * address with no token left is answered 429 RATE_LIMITED with `Retry-After` on every route that
 * needs a key, whatever key it presents, until a token is back: were a right key let through, the
 * guesses would still be checked at full speed. The address is Fastify's `request.ip`: the TCP
 * peer's, or, when that peer is a proxy listed in GATEWAY_TRUST_PROXY (trust-proxy.ts), the
 * client's as the proxy wrote it in X-Forwarded-For; behind an unlisted proxy every client shares
 * the proxy's address (docs/security.md, "Gateway"). The caller keys an IPv6 address by its /64
 * (client-address.ts): the `address` here is that key.
 */
import type { FastifyReply } from "fastify";
import { errorBody } from "../lib/http/errors.js";
import { monotonicNow } from "../lib/resilience/monotonic.js";

/** Addresses tracked at most; past it the oldest entry is dropped (memory stays bounded). */
export const MAX_TRACKED_ADDRESSES = 10_000;

export interface AuthFailureThrottleOptions {
  /** Failed attempts an address may make at once, then per minute; 0 turns the throttle off. */
  perMinute: number;
  /** Ms on a monotonic source (default `monotonicNow`): never a wall clock (break22 F1). */
  monotonicNow?: () => number;
}

export interface AuthFailureThrottle {
  /** Ms until `address` may try again; 0 when it may now. */
  blockedForMs(address: string): number;
  /** Counts one failed attempt of `address`. */
  recordFailure(address: string): void;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The throttle; with `perMinute` 0 it never blocks. */
export function authFailureThrottle(options: AuthFailureThrottleOptions): AuthFailureThrottle {
  const now = options.monotonicNow ?? monotonicNow;
  const capacity = options.perMinute;
  const perMs = options.perMinute / 60_000;
  const buckets = new Map<string, Bucket>();
  const refill = (address: string): Bucket | undefined => {
    const bucket = buckets.get(address);
    if (!bucket) return undefined;
    const t = now();
    bucket.tokens = Math.min(capacity, bucket.tokens + (t - bucket.at) * perMs);
    bucket.at = t;
    // A full bucket is the same as none: forget it, so only recent failures take memory.
    if (bucket.tokens >= capacity) {
      buckets.delete(address);
      return undefined;
    }
    return bucket;
  };
  return {
    blockedForMs(address) {
      if (!(capacity > 0)) return 0;
      const bucket = refill(address);
      if (!bucket || bucket.tokens >= 1) return 0;
      return Math.ceil((1 - bucket.tokens) / perMs);
    },
    recordFailure(address) {
      if (!(capacity > 0)) return;
      const bucket = refill(address) ?? { tokens: capacity, at: now() };
      bucket.tokens = Math.max(0, bucket.tokens - 1);
      // Re-inserted last, so the first entry is the least recently failing address.
      buckets.delete(address);
      buckets.set(address, bucket);
      if (buckets.size > MAX_TRACKED_ADDRESSES) {
        const oldest = buckets.keys().next().value;
        if (oldest !== undefined) buckets.delete(oldest);
      }
    },
  };
}

/**
 * Answers 429 RATE_LIMITED with `Retry-After` in whole seconds (at least 1; RFC 9110 §10.2.3) for
 * a wait of `waitMs`; `message` is told the same seconds.
 */
export function tooManyRequests(
  reply: FastifyReply,
  waitMs: number,
  message: (seconds: number) => string,
): FastifyReply {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return reply
    .code(429)
    .header("retry-after", String(seconds))
    .send(errorBody("RATE_LIMITED", message(seconds)));
}
