/**
 * Idempotency-Key records of `POST /orders`: which order a client's key created, and a digest of
 * the body it was sent with. A record is scoped per client (two clients may pick the same key) and
 * kept for a limited time, like the payment APIs integrators know (Stripe keeps keys 24 h).
 * Redis adapter: `idempotency-records-redis.ts`.
 */

import { DEFAULT_IDEMPOTENCY_KEY_TTL_MS } from "../../lib/http/idempotency-key.js";

/** How long a key is remembered by default: 24 h in ms (Stripe's documented retention). */
export const DEFAULT_IDEMPOTENCY_TTL_MS = DEFAULT_IDEMPOTENCY_KEY_TTL_MS;

export interface IdempotencyRecord {
  /** The order the key created (or will create, if the first request died before placing it). */
  orderId: string;
  /** SHA-256 (hex) of the request body in canonical JSON. */
  requestHash: string;
}

export interface IdempotencyClaim {
  /** The record that holds for the key: the one given, or the one recorded first. */
  record: IdempotencyRecord;
  /** True when this call recorded it. */
  created: boolean;
}

export interface IdempotencyRecords {
  /**
   * Records `record` under (`scope`, `key`) for `ttlMs` unless a live record is there, atomically
   * (two concurrent claims: exactly one creates), and answers the record that holds.
   */
  claim(scope: string, key: string, record: IdempotencyRecord, ttlMs: number): Promise<IdempotencyClaim>;
}

/** In process memory; expired records are dropped when claimed again or swept on a claim. */
export class MemoryIdempotencyRecords implements IdempotencyRecords {
  private readonly records = new Map<string, { record: IdempotencyRecord; expiresAt: number }>();
  private claims = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async claim(
    scope: string,
    key: string,
    record: IdempotencyRecord,
    ttlMs: number,
  ): Promise<IdempotencyClaim> {
    const at = this.now();
    // Sweep now and then so a long-running process does not keep every key it ever saw.
    if (++this.claims % 1_000 === 0) {
      for (const [id, entry] of this.records) if (entry.expiresAt <= at) this.records.delete(id);
    }
    const id = `${scope}\n${key}`;
    const existing = this.records.get(id);
    if (existing && existing.expiresAt > at) return { record: { ...existing.record }, created: false };
    this.records.set(id, { record: { ...record }, expiresAt: at + ttlMs });
    return { record: { ...record }, created: true };
  }
}
