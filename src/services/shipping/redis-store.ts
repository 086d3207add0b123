import type { Redis } from "ioredis";
import { z } from "zod";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { OUTBOX_LUA, outboxArgs } from "../../lib/bus/transports/redis-outbox.js";
import { LuaScript } from "../../lib/redis/index.js";
import type { ShipmentRecord, ShipmentStatus } from "./domain.js";
import { dueKey, shipmentKey } from "./keys.js";
import { assertOwnEvents, type ScheduleChange, type ShippingStore } from "./store.js";

const ShipmentRecordSchema = z.object({
  orderId: z.string(),
  status: z.enum(["prepared", "rejected", "cancelled", "delivered", "voided"]),
  userId: z.string().optional(),
  items: z.array(z.object({ productId: z.string(), quantity: z.number() })).optional(),
  shipmentId: z.string().optional(),
  trackingNumber: z.string().optional(),
  carrier: z.string().optional(),
  reason: z.string().optional(),
  correlationId: z.string().optional(),
  deliverAt: z.string().optional(),
  traceparent: z.string().optional(),
  deliveredAt: z.string().optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});

// KEYS: record, due set, then one stream per message. ARGV: expected status ('' = none), new
// status, record JSON, schedule op ('add' | 'rem' | ''), due score, order id, then bodies.
const COMMIT = new LuaScript(`${OUTBOX_LUA}
local current = redis.call('HGET', KEYS[1], 'status') or ''
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'data', ARGV[3])
if ARGV[4] == 'add' then redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
elseif ARGV[4] == 'rem' then redis.call('ZREM', KEYS[2], ARGV[6]) end
outbox(3, 7)
return 1
`);

// KEYS: due set, record, then one stream per message. ARGV: order id, record JSON, then bodies.
// ZREM succeeds for exactly one caller, so two pollers never deliver one shipment twice.
const CLAIM = new LuaScript(`${OUTBOX_LUA}
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], 'status') ~= 'prepared' then return 0 end
redis.call('HSET', KEYS[2], 'status', 'delivered', 'data', ARGV[2])
outbox(3, 3)
return 1
`);

export class RedisShippingStore implements ShippingStore {
  constructor(private readonly redis: Redis) {}

  async get(orderId: string): Promise<ShipmentRecord | undefined> {
    const data = await this.redis.hget(shipmentKey(orderId), "data");
    return data === null ? undefined : ShipmentRecordSchema.parse(JSON.parse(data));
  }

  async commit(
    record: ShipmentRecord,
    expected: ShipmentStatus | null,
    messages: readonly OutgoingMessage[],
    schedule?: ScheduleChange,
  ): Promise<boolean> {
    assertOwnEvents(messages);
    const op = schedule === undefined ? "" : schedule === "unschedule" ? "rem" : "add";
    const score = typeof schedule === "object" ? schedule.dueAt : 0;
    const outbox = outboxArgs(messages);
    const keys = [shipmentKey(record.orderId), dueKey(), ...outbox.keys];
    const args = [expected ?? "", record.status, JSON.stringify(record), op, score, record.orderId];
    return (await COMMIT.run(this.redis, keys, [...args, ...outbox.bodies])) === 1;
  }

  async due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(dueKey(), "-inf", now, "LIMIT", 0, limit);
  }

  async claimDelivery(record: ShipmentRecord, messages: readonly OutgoingMessage[]): Promise<boolean> {
    assertOwnEvents(messages);
    if (record.status !== "delivered") throw new Error("claimDelivery writes a delivered record");
    const outbox = outboxArgs(messages);
    const keys = [dueKey(), shipmentKey(record.orderId), ...outbox.keys];
    const args = [record.orderId, JSON.stringify(record), ...outbox.bodies];
    return (await CLAIM.run(this.redis, keys, args)) === 1;
  }

  async dropDue(orderId: string): Promise<void> {
    await this.redis.zrem(dueKey(), orderId);
  }
}
