/**
 * Per-API-key rate limiting: a token bucket per key (issue 12 item 4). Each key may send `burst`
 * requests at once, refilled at `perMinute` a minute; a request with no token left is answered
 * 429 RATE_LIMITED with `Retry-After` (whole seconds until a token is back) and never proxied.
 *
 * The buckets live in the gateway process: with N gateways behind a load balancer a key gets up to
 * N times the rate. That is deliberate: a shared bucket in Redis would add a round trip to every
 * request and make the limiter fail with Redis; see docs/security.md ("Gateway").
 * Only authenticated requests are limited (the key is the bucket): with no keys configured
 * (development) nothing is limited, and an unknown key was already refused 401.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { callerOf, isAuthenticated } from "./auth.js";
import { monotonicNow } from "../lib/resilience/monotonic.js";
import { tooManyRequests } from "./auth-throttle.js";

export interface RateLimitOptions {
  /** Sustained requests per minute per key; 0 turns the limiter off. */
  perMinute: number;
  /** Requests a key may send at once (bucket size; default: perMinute / 6, at least 1). */
  burst?: number;
  /** Ms on a monotonic source (default `monotonicNow`): never a wall clock (break22 F1). */
  monotonicNow?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Takes a token for `id`; returns 0 when allowed, else the ms until a token is available. */
export function tokenBucket(options: RateLimitOptions): (id: string) => number {
  const now = options.monotonicNow ?? monotonicNow;
  const capacity = Math.max(1, options.burst ?? Math.floor(options.perMinute / 6));
  const perMs = options.perMinute / 60_000;
  // Bounded: one bucket per configured key (unknown keys are refused before this runs).
  const buckets = new Map<string, Bucket>();
  return (id) => {
    const t = now();
    const bucket = buckets.get(id) ?? { tokens: capacity, at: t };
    bucket.tokens = Math.min(capacity, bucket.tokens + (t - bucket.at) * perMs);
    bucket.at = t;
    buckets.set(id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / perMs);
  };
}

/** Adds the limiter after authentication (it keys on the authenticated caller). */
export function installRateLimit(app: FastifyInstance, options: RateLimitOptions): void {
  if (!(options.perMinute > 0)) return;
  const take = tokenBucket(options);
  app.addHook("onRequest", async (request: FastifyRequest, reply) => {
    if (!isAuthenticated(request)) return;
    const waitMs = take(callerOf(request));
    if (waitMs === 0) return;
    return tooManyRequests(
      reply,
      waitMs,
      (seconds) =>
        `Too many requests for this API key (limit ${options.perMinute}/min); retry in ${seconds} s`,
    );
  });
}
