import type { Redis } from "ioredis";
import { z } from "zod";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { eventStreamFields } from "../../lib/bus/transports/redis-stream-keys.js";
import { LuaScript } from "../../lib/eventstore/lua-script.js";
import type { PaymentRecord, PaymentStatus } from "./domain.js";
import { attemptFailureKey, eventStreamKey, paymentKey } from "./keys.js";
import { assertOwnMessages, type PaymentStore } from "./store.js";

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

// KEYS: record, then one event stream per message. ARGV: expected status ('' = none), new status,
// record JSON, then one body per message. Compare-and-set so concurrent handlers cannot overwrite.
const COMMIT = new LuaScript(`
local current = redis.call('HGET', KEYS[1], 'status') or ''
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'data', ARGV[3])
for i = 2, #KEYS do redis.call('XADD', KEYS[i], '*', 'b', ARGV[i + 2]) end
return 1
`);

// KEYS: attempt marker, then one event stream per message. ARGV: marker value, then bodies.
const REPORT_ONCE = new LuaScript(`
if not redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 0 end
for i = 2, #KEYS do redis.call('XADD', KEYS[i], '*', 'b', ARGV[i]) end
return 1
`);

const streamKeys = (messages: readonly OutgoingMessage[]): string[] =>
  messages.map((m) => eventStreamKey(m.owner, m.topic));
/** The stream field layout is the transport's; the scripts inline field `b`, so check it still is. */
const bodies = (messages: readonly OutgoingMessage[]): string[] =>
  messages.map((m) => {
    const [field, body] = eventStreamFields(m);
    if (field !== "b") throw new Error(`unexpected stream field ${field}`);
    return body;
  });

export class RedisPaymentStore implements PaymentStore {
  constructor(private readonly redis: Redis) {}

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
    assertOwnMessages(messages);
    const keys = [paymentKey(record.orderId), ...streamKeys(messages)];
    const args = [expected ?? "", record.status, JSON.stringify(record), ...bodies(messages)];
    return (await COMMIT.run(this.redis, keys, args)) === 1;
  }

  async reportAttemptFailure(
    orderId: string,
    attempt: number,
    messages: readonly OutgoingMessage[],
  ): Promise<boolean> {
    assertOwnMessages(messages);
    const keys = [attemptFailureKey(orderId, attempt), ...streamKeys(messages)];
    return (await REPORT_ONCE.run(this.redis, keys, ["1", ...bodies(messages)])) === 1;
  }
}
