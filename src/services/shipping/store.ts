/**
 * The shipping state port and its in-memory adapter. A write carries the events it causes and its
 * change to the delivery schedule, all in one atomic step (the outbox): in Redis one Lua script, in
 * memory map updates and the transport publish with no `await` between them.
 */
import { assertOwnMessages } from "../../lib/bus/outbox.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import type { PublishMessages } from "../../lib/runtime/platform-store.js";
import { decideSchedule, type ShipmentRecord, type ShipmentStatus, scheduledRecord } from "./domain.js";
import { SHIPPING_OWNER } from "./keys.js";

/** What `scheduleDelivery` did: scheduled, or skipped and why (`decideSchedule`). */
export type ScheduleOutcome = { scheduled: true } | { scheduled: false; why: string };

/** A bookkeeping key that holds another type than its own (`type`: what Redis `TYPE` answered). */
export interface DamagedKey {
  key: string;
  type: string;
}

export interface ShippingStore {
  get(orderId: string): Promise<ShipmentRecord | undefined>;
  /**
   * If the order's status is `expected` (null: no record), writes `record`, emits `messages` and,
   * with `unschedule` (a cancelled shipment), takes the order off the delivery schedule, atomically.
   * False (nothing written or emitted) when the status moved on. A delivery is put on the schedule
   * only by `scheduleDelivery`, which decides on the stored record in the same step.
   */
  commit(
    record: ShipmentRecord,
    expected: ShipmentStatus | null,
    messages: readonly OutgoingMessage[],
    unschedule?: boolean,
  ): Promise<boolean>;
  /**
   * The saga completed the order: if its shipment is prepared and not yet scheduled
   * (`decideSchedule`), writes it as `scheduledRecord(record, now, delayMs, traceparent)` and puts it
   * on the schedule at `now + delayMs`, atomically. The decision is taken on the stored record in
   * the same step (on Redis one script call, no read before it), so it cannot race another write.
   */
  scheduleDelivery(
    orderId: string,
    now: number,
    delayMs: number,
    traceparent?: string,
  ): Promise<ScheduleOutcome>;
  /** Order ids due for delivery at `now`, earliest first. */
  due(now: number, limit: number): Promise<string[]>;
  /**
   * Takes the order off the schedule and, if this caller is the one that took it and the shipment is
   * still prepared, writes `record` and emits `messages`, atomically. Exactly one caller wins.
   */
  claimDelivery(record: ShipmentRecord, messages: readonly OutgoingMessage[]): Promise<boolean>;
  /** Takes an order off the schedule without a write (its shipment is gone or no longer prepared). */
  dropDue(orderId: string): Promise<void>;
  /**
   * A delivery pass could not handle this due shipment (its record unreadable, a Redis error on its
   * key): if it is on the schedule and due at `now` (ms epoch), counts the failure and moves its due
   * time to `now + retryDelayMs(failures, backoff)`, atomically. A shipment that fails every pass
   * thus leaves the head of the schedule to the others (break-svc7 F1: 100 of them starved every
   * delivery) and is still tried again. Undefined, nothing written, when it is not scheduled or not
   * due at `now` (another poller delivered, dropped or moved it first: one failure counts once).
   * The count goes with the schedule entry (claim, cancel, drop).
   *
   * With `park` (the failure was an unreadable record) it also counts the shipment's consecutive
   * unreadable tries; at `park.after` of them it is parked instead of moved: taken off the schedule
   * with its counts and kept with `park.reason` (`parked`), in the same step, so once whatever the
   * pollers. Without `park` (a Redis error, transient) that streak restarts, so such errors never
   * park a shipment.
   */
  deferDue(
    orderId: string,
    now: number,
    backoff: RetryBackoff,
    park?: ParkPolicy,
  ): Promise<DeferredDelivery | undefined>;
  /** The parked shipments (`deferDue`), with why and when (ms epoch) each was parked. */
  parked(): Promise<ParkedDelivery[]>;
  /**
   * One page of the parked shipments, HSCAN-style (the operator's list): `cursor` "0" starts, the
   * returned `next` is "0" once every one was returned. About `count` per page: on Redis a few more
   * may come, and a small hash (128 entries or fewer, each short) comes whole; one parked or
   * re-queued while the pages are walked may come twice or not at all.
   */
  pageParked(cursor: string, count: number): Promise<{ parked: ParkedDelivery[]; next: string }>;
  /** How many shipments are parked (the gauge `ordersaga_shipping_deliveries_parked`). */
  parkedCount(): Promise<number>;
  /**
   * The operator's re-queue of a parked shipment (once its record is repaired): puts it back on the
   * schedule due at `at` (ms epoch) with fresh counts, and forgets it parked, atomically. False when
   * it is not parked.
   */
  requeueParked(orderId: string, at: number): Promise<boolean>;
  /**
   * One bounded step (about `count` fields) of the sweep of failure counts whose order is no longer
   * on the schedule: an older release's claim took the entry and left its count (break-late7 F5).
   * Start with cursor "0"; the step returns the next cursor ("0": the sweep is complete) and how many
   * counts it removed. A count whose order is on the schedule is kept.
   */
  sweepOrphanCounts(cursor: string, count: number): Promise<{ next: string; removed: number }>;
  /**
   * The bookkeeping keys (failure and unreadable counts, parked entries) found holding another
   * type since the last call, then forgotten. Such a key is skipped, never gating a delivery or a
   * move-back (break9 F4); the poller reports each loudly. Absent: the store has no such keys.
   */
  damagedKeys?(): DamagedKey[];
}

/** When a due shipment whose record cannot be read is parked (`deferDue`). */
export interface ParkPolicy {
  /** Consecutive unreadable tries that park it (≥ 1). */
  after: number;
  /** Kept with the parked shipment for the operator (e.g. the parse error). */
  reason: string;
}

/** A parked shipment: why, when it was parked (ms epoch), and its failed tries by then. */
export interface ParkedDelivery {
  orderId: string;
  reason: string;
  /** When it was parked, ms epoch; absent on an entry damaged by hand (its raw text is the reason). */
  parkedAt?: number;
  /** Failed delivery tries when it was parked; absent on one parked by a release before it was kept. */
  tries?: number;
}

/** Backoff of a due shipment a pass could not handle: `baseMs`, doubled per failure, at most `maxMs`. */
export interface RetryBackoff {
  baseMs: number;
  maxMs: number;
}

/**
 * A failed delivery moved back: its failures so far (1 the first time) and its new due time (ms
 * epoch); or parked (taken off the schedule, `ShippingStore.parked`) at its failures so far.
 */
export type DeferredDelivery = { failures: number; retryAt: number } | { failures: number; parked: true };

/** Wait before the next try after `failures` failed ones (ms): base × 2^(failures−1), capped at max. */
export const retryDelayMs = (failures: number, backoff: RetryBackoff): number =>
  Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 52));

export const assertOwnEvents = (messages: readonly OutgoingMessage[]): void =>
  assertOwnMessages(SHIPPING_OWNER, messages);

export class MemoryShippingStore implements ShippingStore {
  private readonly records = new Map<string, ShipmentRecord>();
  private readonly schedule = new Map<string, number>();
  /** Failed delivery tries of a scheduled shipment (cleared with its schedule entry). */
  private readonly failures = new Map<string, number>();
  /** Consecutive unreadable tries of a scheduled shipment (cleared with its schedule entry). */
  private readonly unreadable = new Map<string, number>();
  private readonly parkedOnes = new Map<string, { reason: string; parkedAt: number; tries: number }>();

  constructor(private readonly publish: PublishMessages) {}

  async get(orderId: string): Promise<ShipmentRecord | undefined> {
    const record = this.records.get(orderId);
    return record ? structuredClone(record) : undefined;
  }

  async commit(
    record: ShipmentRecord,
    expected: ShipmentStatus | null,
    messages: readonly OutgoingMessage[],
    unschedule = false,
  ): Promise<boolean> {
    assertOwnEvents(messages);
    if ((this.records.get(record.orderId)?.status ?? null) !== expected) return false;
    this.records.set(record.orderId, structuredClone(record));
    if (unschedule) this.unschedule(record.orderId);
    await this.emit(messages);
    return true;
  }

  async scheduleDelivery(
    orderId: string,
    now: number,
    delayMs: number,
    traceparent?: string,
  ): Promise<ScheduleOutcome> {
    const decision = decideSchedule(this.records.get(orderId));
    if (decision.action === "skip") return { scheduled: false, why: decision.why };
    this.records.set(orderId, structuredClone(scheduledRecord(decision.record, now, delayMs, traceparent)));
    this.schedule.set(orderId, now + delayMs);
    return { scheduled: true };
  }

  async due(now: number, limit: number): Promise<string[]> {
    return [...this.schedule]
      .filter(([, at]) => at <= now)
      .sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))
      .slice(0, limit)
      .map(([orderId]) => orderId);
  }

  async claimDelivery(record: ShipmentRecord, messages: readonly OutgoingMessage[]): Promise<boolean> {
    assertOwnEvents(messages);
    if (record.status !== "delivered") throw new Error("claimDelivery writes a delivered record");
    if (!this.unschedule(record.orderId)) return false;
    if (this.records.get(record.orderId)?.status !== "prepared") return false;
    this.records.set(record.orderId, structuredClone(record));
    await this.emit(messages);
    return true;
  }

  async dropDue(orderId: string): Promise<void> {
    this.unschedule(orderId);
  }

  async deferDue(
    orderId: string,
    now: number,
    backoff: RetryBackoff,
    park?: ParkPolicy,
  ): Promise<DeferredDelivery | undefined> {
    const at = this.schedule.get(orderId);
    if (at === undefined || at > now) return undefined;
    const failures = (this.failures.get(orderId) ?? 0) + 1;
    const streak = park ? (this.unreadable.get(orderId) ?? 0) + 1 : 0;
    if (park && streak >= park.after) {
      this.parkedOnes.set(orderId, { reason: park.reason, parkedAt: now, tries: failures });
      this.unschedule(orderId);
      return { failures, parked: true };
    }
    const retryAt = now + retryDelayMs(failures, backoff);
    this.failures.set(orderId, failures);
    if (park) this.unreadable.set(orderId, streak);
    else this.unreadable.delete(orderId);
    this.schedule.set(orderId, retryAt);
    return { failures, retryAt };
  }

  async parked(): Promise<ParkedDelivery[]> {
    return [...this.parkedOnes].map(([orderId, p]) => ({ orderId, ...p }));
  }

  async pageParked(cursor: string, count: number): Promise<{ parked: ParkedDelivery[]; next: string }> {
    // The cursor is an offset into the order ids sorted: exactly `count` per page.
    const from = /^\d{1,15}$/.test(cursor) ? Number(cursor) : 0;
    const ids = [...this.parkedOnes.keys()].sort();
    const parked = ids
      .slice(from, from + count)
      .map((orderId) => ({ orderId, ...this.parkedOnes.get(orderId)! }));
    return { parked, next: from + count < ids.length ? String(from + count) : "0" };
  }

  async parkedCount(): Promise<number> {
    return this.parkedOnes.size;
  }

  async requeueParked(orderId: string, at: number): Promise<boolean> {
    if (!this.parkedOnes.delete(orderId)) return false;
    this.unschedule(orderId);
    this.schedule.set(orderId, at);
    return true;
  }

  async sweepOrphanCounts(_cursor: string, _count: number): Promise<{ next: string; removed: number }> {
    let removed = 0;
    for (const counts of [this.failures, this.unreadable])
      for (const orderId of counts.keys())
        if (!this.schedule.has(orderId)) removed += Number(counts.delete(orderId));
    return { next: "0", removed };
  }

  /** Takes the order off the schedule with its failure counts; false if it was not on it. */
  private unschedule(orderId: string): boolean {
    this.failures.delete(orderId);
    this.unreadable.delete(orderId);
    return this.schedule.delete(orderId);
  }

  private emit(messages: readonly OutgoingMessage[]): Promise<void> {
    return messages.length === 0 ? Promise.resolve() : this.publish(messages);
  }
}
