/**
 * Idempotency-Key records on Redis: one string per (scope, key) under the order service's hash tag,
 * written with `SET NX PX ... GET` (Redis >= 7.0), so the claim and the read of an earlier record are
 * one atomic command, and Redis expires the record after its TTL.
 */
import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import { ReplyLostError } from "../../lib/redis/resend-guard.js";
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
    const set = async () =>
      (await this.redis.call(
        "SET",
        idempotencyRecordKey(scope, key),
        json,
        "NX",
        "PX",
        String(Math.max(1, Math.round(ttlMs))),
        "GET",
      )) as string | null;
    // A lost reply (the SET may have run) is answered by running it again: if the first one ran,
    // the second finds exactly this record (its order id is new), so it was this request's claim.
    // Not a blind resend in the guard: only here is "my own record" known to mean "created"
    // (break-resend F2: these lost replies were 500s that opened the gateway's breakers).
    const previous = await set().catch((error: unknown) => {
      if (error instanceof ReplyLostError) return set();
      throw error;
    });
    if (previous === null || previous === json) return { record: { ...record }, created: true };
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
