/**
 * The orphan-charge reconciler (break12 F2): a charge the provider holds for an order with no
 * payment record, older than a grace period, is voided and given back. Such a charge is left when
 * the order was lost with Redis's last writes (an `appendfsync everysec` crash, an async-replica
 * failover) while its charge was in flight at the provider: the handler's record write, or the
 * order, went with the lost second, and no saga will ever refund it.
 *
 * The grace (default 10 min, `PAYMENT_ORPHAN_GRACE_MS`) is well past everything that legitimately
 * leaves a charge without a record for a while: the provider's in-flight lease (60 s), the client's
 * time budget (2 s), a takeover of a dead handler's message (5-10 s), the saga's payment step
 * deadline (45 s, after which the saga's refund writes a `voided` record before calling the
 * provider). A handler stalled even longer loses to the reconciler's record: see
 * `voidOrphanCharge` (handlers.ts).
 *
 * Known orders (break16 F5): a charge whose order's outcome the payment service knows is no lost
 * order, even without its record (both payment instances stalled past the grace, the saga failed the
 * order and queued its refund). Ended without its money, it is voided all the same (the saga's refund
 * and this void are compare-and-sets on the record: one refund) but not counted nor reported as
 * lost; completed or delivered, it is left alone (voiding it would refund a shipped order).
 *
 * Scan (break15 F1, F5; orphan10): the provider's charges by creation time (its dashboard list), from
 * a position kept in Redis (`{payment}:orphan-scan:cursor` and `...:cursor-skip`, shared by the
 * instances: a restart resumes, nothing is reread from the start) up to now − grace, at most
 * `maxPerPass` charges a pass. The position is a creation time (epoch ms) and how many charges of
 * that millisecond were examined: the provider lists the charges of one millisecond in a stable order
 * (Redis: by key; memory: by insertion) and none is added to a millisecond older than now − grace (it
 * is dated on creation; short of the clock stepping back by the whole grace), so skipping that many is
 * exact, and a millisecond holding more charges than a pass's budget is still crossed over passes. Each page is asked from the position (`fromMs` = the
 * last creation time, `offset` = charges of it examined): its cost does not grow with the pass (an
 * `offset` growing through the pass costs O(offset) a page on the provider's sorted index). The
 * records of a page's charges are read together (one round trip: ioredis pipelines them); the voids
 * go one at a time (rare; each is a compare-and-set, so a record read at the page's start that a
 * handler writes meanwhile is still respected).
 *
 * Rate: a pass that stopped on its budget, not at now − grace, is behind: the next comes after
 * `catchUpDelayMs` (default 1 s) instead of the interval (`startOrphanPasses`), so the pass keeps up
 * with any order rate below `maxPerPass` per (catch-up delay + pass time): 2000 per 1.05-1.3 s,
 * at least ~1500 charges/s (a pass of 2000 took 40-260 ms against a local Redis: 20 pages, each a
 * list and one pipelined read of its records), five times the 300 orders/s the system sustains; each
 * pass stays bounded to `maxPerPass`, and the process runs its other work between passes.
 * The position's distance behind now − grace is exported as
 * `ordersaga_payment_orphan_scan_lag_seconds` (alert `OrdersagaOrphanScanBehind`).
 *
 * Clock: the position is set to what the pass reached (the last charge examined, or now − grace when
 * it reached the end), so a backlog or a forward clock step is caught up over passes. After a
 * backward step of the shared clock the position is past now − grace: that pass starts at
 * now − grace − lookback (default two pass intervals) on the stepped clock instead and the position
 * follows the stepped clock down; every charge dated after the step is then above it (it is dated
 * after the step, and a pass runs within an interval of the step, well under the grace, so the
 * charge is past that pass's now − grace). A charge examined twice is harmless: its record exists
 * by then. A pass stops at a charge the provider cannot void now; the position stays before it
 * (asked again next pass, after the interval).
 *
 * The scan itself (position, paging, lookback, budget, catch-up timing) is shared with the shipping
 * service's orphan-booking pass: `lib/runtime/creation-scan.ts`. This module is what is payment's:
 * which charges need a void, and how one is voided and reported.
 */
import type { Redis } from "ioredis";
import {
  CreationScan,
  DEFAULT_ORPHAN_CATCH_UP_DELAY_MS,
  DEFAULT_ORPHAN_LOOKBACK_MS,
  DEFAULT_ORPHAN_MAX_PER_PASS,
  DEFAULT_ORPHAN_SCAN_INTERVAL_MS,
  MemoryScanCursor,
  RedisScanCursor,
  type ScanCursor,
  type CreationScanSettings,
  type ScanPassTimingOptions,
  type ScanPosition,
  startScanPasses,
} from "../../lib/runtime/creation-scan.js";
import type { Ticker } from "../../lib/runtime/ticker.js";
import { orphanScanCursorKey, orphanScanSkipKey } from "./keys.js";
import type { LedgerEntry, LedgerPage } from "./provider.js";
import type { OrderOutcome, PaymentStore } from "./store.js";

export {
  DEFAULT_ORPHAN_CATCH_UP_DELAY_MS,
  DEFAULT_ORPHAN_LOOKBACK_MS,
  DEFAULT_ORPHAN_MAX_PER_PASS,
  DEFAULT_ORPHAN_SCAN_INTERVAL_MS,
};

/**
 * Where the orphan pass reached: every charge created before `createdAtMs` (epoch ms), and the first
 * `skip` the provider lists at `createdAtMs`, were examined.
 */
export type OrphanScanPosition = ScanPosition;

/** Where the orphan pass reached; undefined before the first pass. */
export type OrphanScanCursor = ScanCursor;

/** The cursor of a single process (tests, the in-memory platform). */
export class MemoryOrphanScanCursor extends MemoryScanCursor {}

/**
 * The cursor in Redis, shared by every payment instance (`RedisScanCursor` on
 * `{payment}:orphan-scan:cursor` and `...:cursor-skip`). The last writer wins: an instance that sets
 * it lower only makes the next pass re-examine charges, which is harmless. The creation time stays a
 * plain number in `{payment}:orphan-scan:cursor` (as before the skip existed: an older instance reads
 * it); the skip is `<createdAtMs>:<skip>` in `...:cursor-skip` and counts only while its time is the
 * cursor's.
 */
export class RedisOrphanScanCursor extends RedisScanCursor {
  constructor(redis: Redis) {
    super(redis, { cursorKey: orphanScanCursorKey(), skipKey: orphanScanSkipKey() });
  }
}

/** `graceMs`: the age a charge with no record must reach before it is voided. */
export interface OrphanChargeReconcilerOptions extends CreationScanSettings {
  /** The provider's dashboard list (the service's provider client: its time budget and breaker). */
  provider: { list(kind: "charge", page: LedgerPage): Promise<LedgerEntry[]> };
  /**
   * The payment records, and the orders' outcomes as the order service announced them (`outcome`:
   * a charge whose order has one is no lost order, break16 F5; without it every charge counts lost).
   */
  store: Pick<PaymentStore, "get"> & Partial<Pick<PaymentStore, "outcome">>;
  /**
   * `voidOrphanCharge` of the payment handlers: the record first (`onTombstone` runs once it is
   * written, before the provider), then the provider; `given back` when it finished an earlier
   * call's give-back.
   */
  voidOrphanCharge(orderId: string, onTombstone?: () => void): Promise<"voided" | "given back" | "settled">;
  /**
   * Called once per orphan charge this instance voided (metric, error log), when its `voided` record
   * is written: also when giving it back then fails and a later pass (or instance) finishes it.
   */
  onVoided?: (charge: LedgerEntry) => void;
  /** Called when a pass gave back an orphan charge whose earlier void stopped before the refund. */
  onGivenBack?: (charge: LedgerEntry) => void;
  /**
   * Called once per charge without a settled record whose order ended failed, cancelled or
   * compensation_failed/resolved (break16 F5): voided like an orphan (the money must go back; the
   * saga's refund and this void are compare-and-sets on the record, so it goes back once), but the
   * order is not lost: not counted by `onVoided`. Runs when its `voided` record is written.
   */
  onEndedOrderVoided?: (charge: LedgerEntry, outcome: OrderOutcome) => void;
  /**
   * Called (every pass that meets it) for a charge without a settled record whose order completed
   * or was delivered: left alone (the order keeps its money; voiding it would refund a shipped
   * order), for an operator (the reconciliation lists it).
   */
  onCompletedOrderKept?: (charge: LedgerEntry, outcome: OrderOutcome) => void;
}

/** Outcomes in which the order keeps its charge: the pass never voids it (break16 F5). */
const KEEPS_CHARGE: ReadonlySet<OrderOutcome> = new Set(["completed", "delivered"]);

export interface OrphanPassResult {
  /** Charges looked at. */
  checked: number;
  /** Orphan charges voided by this pass. */
  voided: number;
  /** Whether the pass reached now − grace (false: stopped on its budget or by `stoppedBy`). */
  caughtUp: boolean;
  /** How far (ms) the position is behind now − grace after the pass (0 when caught up). */
  lagMs: number;
  /** Why the pass stopped before reaching charges younger than the grace, if it did. */
  stoppedBy?: unknown;
}

/** Default grace: 10 minutes (see the module comment). */
export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60_000;

export class OrphanChargeReconciler {
  private readonly scan: CreationScan<LedgerEntry>;

  constructor(private readonly options: OrphanChargeReconcilerOptions) {
    this.scan = new CreationScan<LedgerEntry>({
      list: (page) => options.provider.list("charge", page),
      createdAtMs: (charge) => Date.parse(charge.createdAt),
      needs: async (charge) => charge.status === "approved" && (await this.needsVoid(charge.idempotencyKey)),
      handle: (charge, count) => this.settle(charge, count),
      now: options.now,
      graceMs: options.graceMs,
      cursor: options.cursor ?? new MemoryOrphanScanCursor(),
      lookbackMs: options.lookbackMs ?? DEFAULT_ORPHAN_LOOKBACK_MS,
      maxPerPass: options.maxPerPass ?? DEFAULT_ORPHAN_MAX_PER_PASS,
      ...(options.pageSize === undefined ? {} : { pageSize: options.pageSize }),
    });
  }

  /** One pass (a pass already running is joined, not doubled). Never throws: see `stoppedBy`. */
  async pass(): Promise<OrphanPassResult> {
    const { handled, ...rest } = await this.scan.pass();
    return { ...rest, voided: handled };
  }

  /** Resolves when the pass in progress (if any) has ended: for a clean stop. */
  async idle(): Promise<void> {
    await this.scan.idle();
  }

  /**
   * Voids a charge that needs it, by its order's outcome (break16 F5): none known, a lost order
   * (`onVoided`, counted in `voided`); ended without keeping the money, voided too but told to
   * `onEndedOrderVoided`; completed or delivered, left alone (`onCompletedOrderKept`). Read here, one
   * charge at a time: only charges without a settled record get this far (rare).
   */
  private async settle(charge: LedgerEntry, count: () => void): Promise<void> {
    const orderId = charge.idempotencyKey;
    const outcome = await this.options.store.outcome?.(orderId);
    if (outcome !== undefined && KEEPS_CHARGE.has(outcome)) {
      this.options.onCompletedOrderKept?.(charge, outcome);
      return;
    }
    // Counted when the record is written (one writer wins), not when the void returns: a give-back
    // stopped by an outage is finished by a later pass (break15 F3).
    const result = await this.options.voidOrphanCharge(orderId, () => {
      if (outcome !== undefined) {
        this.options.onEndedOrderVoided?.(charge, outcome);
      } else {
        count();
        this.options.onVoided?.(charge);
      }
    });
    if (result === "given back" && outcome === undefined) this.options.onGivenBack?.(charge);
  }

  /** No record, or a voided one whose charge was not given back yet. */
  private async needsVoid(orderId: string): Promise<boolean> {
    const record = await this.options.store.get(orderId);
    return !record || (record.status === "voided" && !record.refundId);
  }
}

/** When the passes run (`startOrphanPasses`). */
export type OrphanPassTimingOptions = ScanPassTimingOptions<OrphanPassResult>;

/**
 * The passes on a ticker: the next one after the interval, or after `catchUpDelayMs` when the last
 * stopped on its budget, so a backlog above `maxPerPass` per interval is caught up at the pass's own
 * speed instead of falling further behind every interval (orphan10). A pass an error stopped waits
 * the interval: a provider that is down is not asked again at once.
 */
export function startOrphanPasses(
  reconciler: OrphanChargeReconciler,
  timing: OrphanPassTimingOptions,
): Ticker {
  return startScanPasses(reconciler, timing);
}
