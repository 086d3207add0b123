/**
 * Idempotency-Key records on Redis: one string per (scope, key) under the order service's hash tag,
 * written with `SET NX PX ... GET` (Redis >= 7.0), so the claim and the read of an earlier record are
 * one atomic command, and Redis expires the record after its TTL.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { IdempotencyClaim, IdempotencyRecord, IdempotencyRecords } from "./idempotency-records.js";
import { ORDER_TAG } from "./keys.js";

/** `{order}:idem:<sha256 of scope and key>`: bounded key length whatever the client sends. */
export const idempotencyRecordKey = (scope: string, key: string, tag = ORDER_TAG): string =>
  `{${tag}}:idem:${createHash("sha256").update(`${scope}\n${key}`).digest("hex")}`;

export class RedisIdempotencyRecords implements IdempotencyRecords {
  constructor(private readonly redis: Redis) {}

  async claim(
    scope: string,
    key: string,
    record: IdempotencyRecord,
    ttlMs: number,
  ): Promise<IdempotencyClaim> {
    const json = JSON.stringify(record);
    const previous = (await this.redis.call(
      "SET",
      idempotencyRecordKey(scope, key),
      json,
      "NX",
      "PX",
      String(Math.max(1, Math.round(ttlMs))),
      "GET",
    )) as string | null;
    if (previous === null) return { record: { ...record }, created: true };
    return { record: parseRecord(previous), created: false };
  }
}

function parseRecord(json: string): IdempotencyRecord {
  const parsed = JSON.parse(json) as Partial<IdempotencyRecord>;
  if (typeof parsed.orderId !== "string" || typeof parsed.requestHash !== "string") {
    throw new Error(`malformed idempotency record: ${json.slice(0, 100)}`);
  }
  return { orderId: parsed.orderId, requestHash: parsed.requestHash };
}
