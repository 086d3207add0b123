/**
 * The orphan-booking reconciler (break28 F2), the shipping counterpart of the payment service's
 * orphan-charge pass (services/payment/orphan-charges.ts): a booking the carrier holds under an
 * order's key (`shipment:<orderId>`), still `booked`, with no shipment record, older than a grace
 * period, is cancelled by key. Such a booking is left when the order was lost with Redis's last
 * writes (an `appendfsync everysec` crash, a restart from an older snapshot, an async-replica
 * failover) after the carrier booked it: the carrier is an external system and keeps the booking,
 * while the shipment record, the `shipping.shipment.prepared` reply (which the order service's
 * lost-reply path would undo, order/lost-replies.ts) and the order went with the lost writes. No
 * saga will ever cancel it.
 *
 * The grace (default 10 min, `SHIPPING_ORPHAN_GRACE_MS`, like `PAYMENT_ORPHAN_GRACE_MS`) is what
 * protects a live order: it must outlast everything that legitimately leaves a booking without a
 * record for a while: the carrier's in-flight lease (60 s: a `slowship-` booking is dated when its
 * call arrives and stored when its processing ends), the carrier call's time budget (5 s) and
 * retrieve-by-key, a takeover of a dead handler's message (`CLAIM_IDLE_MS` plus a step's processing),
 * the saga's shipping step deadline (`SAGA_STEP_TIMEOUT_MS`, 45 s, after which the saga's
 * compensation cancels by key itself). The configuration refuses a shorter one
 * (`orphanGraceProblemOf`). A handler stalled even longer loses to the pass's record: the pass writes
 * a `voided` tombstone first (a compare-and-set on "no record"), so the handler's own record write
 * fails and it publishes nothing; its order is past the step deadline, failed and compensated by
 * then (`cancelOrphanBooking`, handlers.ts).
 *
 * Known orders: unlike payment, the shipping service keeps no order outcomes, and needs none. With
 * one Redis, the writes lost are a suffix: a booking whose record was lost lost everything the order
 * did after it too (the `prepared` reply, `order.completed`, the delivery), so no surviving order
 * can have gone past its shipping step with that booking; a live one without the record is one whose
 * handler stalled past the grace, which the saga has failed (see above). Its compensation and this
 * pass are the same idempotent cancel by key.
 *
 * Stock: the inventory's state is in our Redis and rolls back with it: the lost order's reservation
 * is lost too, so its units read available again. Cancelling the booking makes that right (the
 * goods are not shipped); the inventory needs no pass of its own.
 *
 * Scan: the carrier's bookings by creation time (`Carrier.list`, its dashboard), from a position kept
 * in Redis (`{shipping}:orphan-scan:cursor` and `...:cursor-skip`, shared by the instances) up to
 * now − grace, at most `maxPerPass` bookings a pass, the rate and clock rules of the shared scan
 * (lib/runtime/creation-scan.ts). A pass stops at a booking the carrier cannot cancel now; the
 * position stays before it. Racing instances cancel a booking once: its tombstone is written by one.
 */
import type { Redis } from "ioredis";
import {
  CreationScan,
  DEFAULT_ORPHAN_LOOKBACK_MS,
  type CreationScanSettings,
  RedisScanCursor,
  type ScanPassResult,
} from "../../lib/runtime/creation-scan.js";
import { type BookingPage, type CarrierBooking, carrierKeyFor } from "./carrier.js";
import { ORPHAN_BOOKING_REASON } from "./domain.js";
import { orphanBookingScanCursorKey, orphanBookingScanSkipKey } from "./keys.js";
import type { ShippingStore } from "./store.js";

/** Default grace: 10 minutes, like the payment orphan-charge pass's (see the module comment). */
export const DEFAULT_ORPHAN_BOOKING_GRACE_MS = 10 * 60_000;

/** The orphan-booking pass's cursor in Redis, shared by every shipping instance. */
export class RedisOrphanBookingScanCursor extends RedisScanCursor {
  constructor(redis: Redis) {
    super(redis, { cursorKey: orphanBookingScanCursorKey(), skipKey: orphanBookingScanSkipKey() });
  }
}

/** `graceMs`: the age a booking with no record must reach before it is cancelled. */
export interface OrphanBookingReconcilerOptions extends CreationScanSettings {
  /** The carrier's dashboard list (through the service's time budget). */
  carrier: { list(page: BookingPage): Promise<CarrierBooking[]> };
  /** The shipment records. */
  store: Pick<ShippingStore, "get">;
  /**
   * `cancelOrphanBooking` of the shipping handlers: the `voided` record first (`onTombstone` runs
   * once it is written), then the carrier's cancel by key, then the `cancelled` record.
   */
  cancelOrphanBooking(
    orderId: string,
    onTombstone?: () => void,
  ): Promise<"cancelled" | "finished" | "settled">;
  /** Called once per orphan booking (across instances), when its tombstone is written. */
  onCancelled?: (booking: CarrierBooking) => void;
  /** Called when a pass finished the cancel of an orphan whose earlier cancel stopped after its tombstone. */
  onFinished?: (booking: CarrierBooking) => void;
}

export interface OrphanBookingPassResult {
  /** Bookings looked at. */
  checked: number;
  /** Orphan bookings this pass cancelled (tombstones it wrote). */
  cancelled: number;
  /** Whether the pass reached now − grace (false: stopped on its budget or by `stoppedBy`). */
  caughtUp: boolean;
  /** How far (ms) the position is behind now − grace after the pass (0 when caught up). */
  lagMs: number;
  /** Why the pass stopped before reaching bookings younger than the grace, if it did. */
  stoppedBy?: unknown;
}

export class OrphanBookingReconciler {
  private readonly scan: CreationScan<CarrierBooking>;

  constructor(private readonly options: OrphanBookingReconcilerOptions) {
    this.scan = new CreationScan<CarrierBooking>({
      list: (page) => options.carrier.list(page),
      createdAtMs: (booking) => Date.parse(booking.createdAt),
      needs: (booking) => this.needsCancel(booking),
      handle: (booking, count) => this.cancel(booking, count),
      now: options.now,
      graceMs: options.graceMs,
      ...(options.cursor ? { cursor: options.cursor } : {}),
      lookbackMs: options.lookbackMs ?? DEFAULT_ORPHAN_LOOKBACK_MS,
      ...(options.maxPerPass === undefined ? {} : { maxPerPass: options.maxPerPass }),
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    });
  }

  /** One pass (a pass already running is joined, not doubled). Never throws: see `stoppedBy`. */
  async pass(): Promise<OrphanBookingPassResult> {
    const { handled, ...rest }: ScanPassResult = await this.scan.pass();
    return { ...rest, cancelled: handled };
  }

  /** Resolves when the pass in progress (if any) has ended: for a clean stop. */
  async idle(): Promise<void> {
    await this.scan.idle();
  }

  /**
   * A live booking under an order's key with no record, or with the pass's own tombstone (an
   * earlier cancel stopped before the carrier). A record of any other kind keeps it.
   */
  private async needsCancel(booking: CarrierBooking): Promise<boolean> {
    if (booking.status !== "booked" || booking.idempotencyKey !== carrierKeyFor(booking.orderId))
      return false;
    const record = await this.options.store.get(booking.orderId);
    return !record || (record.status === "voided" && record.reason === ORPHAN_BOOKING_REASON);
  }

  private async cancel(booking: CarrierBooking, count: () => void): Promise<void> {
    // Counted when the tombstone is written (one writer wins), not when the carrier answers: a
    // cancel stopped by a carrier outage is finished by a later pass (or instance).
    const result = await this.options.cancelOrphanBooking(booking.orderId, () => {
      count();
      this.options.onCancelled?.(booking);
    });
    if (result === "finished") this.options.onFinished?.(booking);
  }
}
