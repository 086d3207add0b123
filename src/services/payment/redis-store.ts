import type { Redis } from "ioredis";
import { z } from "zod";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { OUTBOX_LUA, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import type { PaymentRecord, PaymentStatus } from "./domain.js";
import { attemptFailureKey, orderOutcomeKey, paymentIndexKey, paymentKey } from "./keys.js";
import { assertOwnEvents, OUTCOME_RANK, type OrderOutcome, type PaymentStore } from "./store.js";

const PaymentRecordSchema = z.object({
  orderId: z.string(),
  status: z.enum(["captured", "declined", "refunding", "refunded", "voided"]),
  userId: z.string().optional(),
  paymentId: z.string().optional(),
  amount: z.number().optional(),
  currency: z.string().optional(),
  tokenFingerprint: z.string().optional(),
  providerChargeId: z.string().optional(),
  refundId: z.string().optional(),
  reason: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

// KEYS: record, index, then one event stream per message. ARGV: expected status ('' = none), new
// status, record JSON, order id, then one body per message. Compare-and-set so concurrent handlers
// cannot overwrite.
const COMMIT = new LuaScript(`${OUTBOX_LUA}
local current = redis.call('HGET', KEYS[1], 'status') or ''
if current ~= ARGV[1] then return 0 end
-- streams checked before the first write (README step 2's rule; newuser17 F1)
outbox_check(3)
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'data', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
outbox(3, 5)
return 1
`);

// KEYS: attempt marker, then one event stream per message. ARGV: marker value, its lifetime ms,
// then bodies.
// The marker last (README step 2's rule): a failing XADD (checked first by outbox) leaves no marker
// without its events, so the report is retried, not skipped as done (newuser17 F1).
const REPORT_ONCE = new LuaScript(`${OUTBOX_LUA}
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
outbox(2, 3)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`);

/** Lifetime of an attempt marker when none is given: 7 days, as `DEFAULT_RETENTION.markerTtlMs`. */
const DEFAULT_MARKER_TTL_MS = 7 * 86_400_000;

export interface RedisPaymentStoreOptions {
  /** Lifetime (ms) of the per-attempt failure markers: past every redelivery window, then gone. */
  markerTtlMs?: number;
}

// KEYS: outcome. ARGV: outcome, its rank. A later fact wins over an earlier one even when the bus
// delivers them reordered (delivered over completed, compensation_failed over failed). No TTL: the
// outcome is what the reconciliation judges an order's money by, so it lives as long as the payment
// records (kept); with the 7-day TTL it had, money still owed left the reconciliation (break34 F2).
// One small hash per ended order. A key an earlier release gave a TTL keeps it (HSET leaves a TTL):
// once it is gone, the reconciliation judges the record by itself (reconciliation.ts).
const RECORD_OUTCOME = new LuaScript(`
local current = redis.call('HGET', KEYS[1], 'rank')
if current and tonumber(current) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'outcome', ARGV[1], 'rank', ARGV[2])
return 1
`);

export class RedisPaymentStore implements PaymentStore {
  private readonly markerTtlMs: number;

  constructor(
    private readonly redis: Redis,
    options: RedisPaymentStoreOptions = {},
  ) {
    this.markerTtlMs = options.markerTtlMs ?? DEFAULT_MARKER_TTL_MS;
  }

  async get(orderId: string): Promise<PaymentRecord | undefined> {
    const data = await this.redis.hget(paymentKey(orderId), "data");
    return data === null ? undefined : PaymentRecordSchema.parse(JSON.parse(data));
  }

  async attemptReported(orderId: string, attempt: number): Promise<boolean> {
    return (await this.redis.exists(attemptFailureKey(orderId, attempt))) === 1;
  }

  async commit(
    record: PaymentRecord,
    expected: PaymentStatus | null,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean> {
    assertOwnEvents(messages);
    const outbox = outboxArgs(messages);
    const keys = [paymentKey(record.orderId), paymentIndexKey(), ...outbox.keys];
    const args = [expected ?? "", record.status, JSON.stringify(record), record.orderId, ...outbox.bodies];
    return (await COMMIT.run(this.redis, keys, args)) === 1;
  }

  async reportAttemptFailure(
    orderId: string,
    attempt: number,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean> {
    assertOwnEvents(messages);
    const outbox = outboxArgs(messages);
    const keys = [attemptFailureKey(orderId, attempt), ...outbox.keys];
    return (await REPORT_ONCE.run(this.redis, keys, ["1", this.markerTtlMs, ...outbox.bodies])) === 1;
  }

  async pageOrderIds(cursor: string, count: number): Promise<{ ids: string[]; next: string }> {
    const [next, ids] = await this.redis.sscan(paymentIndexKey(), cursor, "COUNT", count);
    return { ids, next };
  }

  async recordOutcome(orderId: string, outcome: OrderOutcome): Promise<void> {
    const rank = String(OUTCOME_RANK[outcome]);
    await RECORD_OUTCOME.run(this.redis, [orderOutcomeKey(orderId)], [outcome, rank]);
  }

  async outcome(orderId: string): Promise<OrderOutcome | undefined> {
    return ((await this.redis.hget(orderOutcomeKey(orderId), "outcome")) as OrderOutcome | null) ?? undefined;
  }
}
