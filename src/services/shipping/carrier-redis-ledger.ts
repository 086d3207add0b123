/**
 * The simulated carrier's ledger in our Redis (`{shipping}:carrier:*`), so a booking outlives a
 * restart of the shipping service like a real carrier's would. Bookings carry no TTL: at most one
 * per order, kept like the shipment records they stand behind. Every booking (and cancel tombstone)
 * is listed in `{shipping}:carrier:bookings` and, by creation time, in
 * `{shipping}:carrier:bookings-by-time` (the dashboard list the orphan-booking pass scans). A
 * booking stored by a release before the time index existed is not in it, so the pass never sees
 * it (not backfilled: the simulated carrier's older bookings all have their records or were
 * checked by hand; a real carrier's dashboard lists every booking).
 */
import type { Redis } from "ioredis";
import { z } from "zod";
import { LuaScript } from "../../lib/redis/index.js";
import type { BookingPage, CarrierBooking, CarrierLedger } from "./carrier.js";
import { carrierBookingKey, carrierIndexKey, carrierInFlightKey, carrierTimeIndexKey } from "./keys.js";

const BookingDataSchema = z.object({
  idempotencyKey: z.string(),
  orderId: z.string(),
  shipmentId: z.string().optional(),
  trackingNumber: z.string().optional(),
  carrier: z.string(),
  reason: z.string().optional(),
  createdAt: z.string(),
});
const StatusSchema = z.enum(["booked", "rejected", "cancelled", "voided"]);

/** The immutable part of a booking (stored as `data`); status and update time are fields. */
const dataOf = (booking: CarrierBooking): string => {
  const { status: _status, updatedAt: _updatedAt, ...data } = booking;
  return JSON.stringify(data);
};

/**
 * The time index's score: the booking's own date (the carrier's clock, the shared one), never this
 * host's, since the orphan pass of every instance scans it by time.
 */
const createdMsOf = (booking: CarrierBooking): number => {
  const createdMs = Date.parse(booking.createdAt);
  if (!Number.isFinite(createdMs)) throw new Error(`booking ${booking.idempotencyKey}: invalid createdAt`);
  return createdMs;
};

const parse = (reply: unknown): CarrierBooking => {
  const [status, data, updatedAt] = reply as [string, string, string];
  return {
    ...BookingDataSchema.parse(JSON.parse(data)),
    status: StatusSchema.parse(status),
    updatedAt,
  };
};

// KEYS: booking, index, time index. ARGV: status, data JSON, updatedAt, key, creation (epoch ms).
// First writer wins.
const PUT_IF_ABSENT_LUA = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1], 'data', ARGV[2], 'updatedAt', ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
  return {1, redis.call('HMGET', KEYS[1], 'status', 'data', 'updatedAt')}
end
return {0, redis.call('HMGET', KEYS[1], 'status', 'data', 'updatedAt')}
`;
const PUT_IF_ABSENT = new LuaScript(PUT_IF_ABSENT_LUA);

// KEYS: as PUT_IF_ABSENT, then the in-flight mark. ARGV: as PUT_IF_ABSENT. → 'busy' while a call
// with the key is in flight; else PUT_IF_ABSENT's reply.
const BOOK_INSTANTLY = new LuaScript(`
if redis.call('EXISTS', KEYS[4]) == 1 then return 'busy' end
${PUT_IF_ABSENT_LUA}`);

// KEYS: booking, index, time index. ARGV: tombstone data JSON, at, key, tombstone creation (epoch
// ms). booked → cancelled; none → voided.
const CANCEL = new LuaScript(`
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('HSET', KEYS[1], 'status', 'voided', 'data', ARGV[1], 'updatedAt', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
elseif status == 'booked' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'updatedAt', ARGV[2])
end
return redis.call('HMGET', KEYS[1], 'status', 'data', 'updatedAt')
`);

export class RedisCarrierLedger implements CarrierLedger {
  constructor(private readonly redis: Redis) {}

  async putIfAbsent(booking: CarrierBooking): Promise<{ booking: CarrierBooking; created: boolean }> {
    const key = booking.idempotencyKey;
    const [created, stored] = (await PUT_IF_ABSENT.run(
      this.redis,
      [carrierBookingKey(key), carrierIndexKey(), carrierTimeIndexKey()],
      [booking.status, dataOf(booking), booking.updatedAt, key, createdMsOf(booking)],
    )) as [number, unknown];
    return { booking: parse(stored), created: created === 1 };
  }

  async bookInstantly(booking: CarrierBooking): Promise<"busy" | CarrierBooking> {
    const key = booking.idempotencyKey;
    const reply = await BOOK_INSTANTLY.run(
      this.redis,
      [carrierBookingKey(key), carrierIndexKey(), carrierTimeIndexKey(), carrierInFlightKey(key)],
      [booking.status, dataOf(booking), booking.updatedAt, key, createdMsOf(booking)],
    );
    if (reply === "busy") return "busy";
    return parse((reply as [number, unknown])[1]);
  }

  async get(idempotencyKey: string): Promise<CarrierBooking | undefined> {
    const reply = await this.redis.hmget(carrierBookingKey(idempotencyKey), "status", "data", "updatedAt");
    return reply[0] === null ? undefined : parse(reply);
  }

  async cancel(tombstone: CarrierBooking, at: string): Promise<CarrierBooking> {
    const key = tombstone.idempotencyKey;
    const reply = await CANCEL.run(
      this.redis,
      [carrierBookingKey(key), carrierIndexKey(), carrierTimeIndexKey()],
      [dataOf(tombstone), at, key, createdMsOf(tombstone)],
    );
    return parse(reply);
  }

  async beginCall(idempotencyKey: string, leaseMs: number): Promise<boolean> {
    return (await this.redis.set(carrierInFlightKey(idempotencyKey), "1", "PX", leaseMs, "NX")) === "OK";
  }

  async endCall(idempotencyKey: string): Promise<void> {
    await this.redis.del(carrierInFlightKey(idempotencyKey));
  }

  async inFlight(idempotencyKey: string): Promise<boolean> {
    return (await this.redis.exists(carrierInFlightKey(idempotencyKey))) === 1;
  }

  async list(page?: BookingPage): Promise<CarrierBooking[]> {
    if (page) {
      // By creation time (the time index's score); one millisecond's bookings by key.
      const keys = await this.redis.zrangebyscore(
        carrierTimeIndexKey(),
        page.fromMs,
        page.toMs,
        "LIMIT",
        page.offset,
        page.limit,
      );
      const bookings = await Promise.all(keys.map((key) => this.get(key)));
      return bookings.filter((b): b is CarrierBooking => b !== undefined);
    }
    const keys = await this.redis.smembers(carrierIndexKey());
    const bookings = await Promise.all(keys.map((key) => this.get(key)));
    return bookings.filter((b): b is CarrierBooking => b !== undefined);
  }
}
