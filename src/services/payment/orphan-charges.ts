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
 * Scan (break15 F1, F5): the provider's charges by creation time (its dashboard list), from a cursor
 * kept in Redis (`{payment}:orphan-scan:cursor`, a creation time in epoch ms, shared by the
 * instances: a restart resumes, nothing is reread from the start) up to now − grace, at most
 * `maxPerPass` charges; the cursor is then set to what the pass reached (the last charge examined,
 * or now − grace when it reached the end), so a backlog or a forward clock step is caught up over
 * passes. After a backward step of the shared clock the cursor is past now − grace: that pass
 * starts at now − grace − lookback (default two pass intervals) on the stepped clock instead and
 * the cursor follows the stepped clock down; every charge dated after the step is then above it
 * (it is dated after the step, and a pass runs within an interval of the step, well under the
 * grace, so the charge is past that pass's now − grace). A charge examined twice is harmless:
 * its record exists by then. A pass stops at a charge the provider cannot void now; the cursor
 * stays before it (asked again next pass). Charges beyond `maxPerPass` per pass interval are
 * examined later and later: raise it if orders arrive faster.
 */
import type { Redis } from "ioredis";
import { orphanScanCursorKey } from "./keys.js";
import type { LedgerEntry, LedgerPage } from "./provider.js";
import type { PaymentStore } from "./store.js";

/** Where the orphan pass reached: a charge creation time (epoch ms); undefined before the first pass. */
export interface OrphanScanCursor {
  get(): Promise<number | undefined>;
  set(createdAtMs: number): Promise<void>;
}

/** The cursor of a single process (tests, the in-memory platform). */
export class MemoryOrphanScanCursor implements OrphanScanCursor {
  private value: number | undefined;
  async get(): Promise<number | undefined> {
    return this.value;
  }
  async set(createdAtMs: number): Promise<void> {
    this.value = createdAtMs;
  }
}

/**
 * The cursor in Redis, shared by every payment instance. The last writer wins: an instance that sets
 * it lower only makes the next pass re-examine charges, which is harmless.
 */
export class RedisOrphanScanCursor implements OrphanScanCursor {
  constructor(private readonly redis: Redis) {}
  async get(): Promise<number | undefined> {
    const value = await this.redis.get(orphanScanCursorKey());
    return value === null || !Number.isFinite(Number(value)) ? undefined : Number(value);
  }
  async set(createdAtMs: number): Promise<void> {
    await this.redis.set(orphanScanCursorKey(), String(createdAtMs));
  }
}

export interface OrphanChargeReconcilerOptions {
  /** The provider's dashboard list (the service's provider client: its time budget and breaker). */
  provider: { list(kind: "charge", page: LedgerPage): Promise<LedgerEntry[]> };
  store: Pick<PaymentStore, "get">;
  /**
   * `voidOrphanCharge` of the payment handlers: the record first (`onTombstone` runs once it is
   * written, before the provider), then the provider; `given back` when it finished an earlier
   * call's give-back.
   */
  voidOrphanCharge(orderId: string, onTombstone?: () => void): Promise<"voided" | "given back" | "settled">;
  /** The shared clock (epoch ms): the provider dates its entries on it. */
  now: () => number;
  /** Age (ms) a charge with no record must reach before it is voided. */
  graceMs: number;
  /** Where the last pass reached (default: in memory; the service's is in Redis). */
  cursor?: OrphanScanCursor;
  /** How far before now − grace each pass looks again, ms (default two pass intervals: 2 min). */
  lookbackMs?: number;
  /** Charges looked at per pass at most (default 2000). */
  maxPerPass?: number;
  /** Charges read per page (default 100). */
  pageSize?: number;
  /**
   * Called once per orphan charge this instance voided (metric, error log), when its `voided` record
   * is written: also when giving it back then fails and a later pass (or instance) finishes it.
   */
  onVoided?: (charge: LedgerEntry) => void;
  /** Called when a pass gave back an orphan charge whose earlier void stopped before the refund. */
  onGivenBack?: (charge: LedgerEntry) => void;
}

export interface OrphanPassResult {
  /** Charges looked at. */
  checked: number;
  /** Orphan charges voided by this pass. */
  voided: number;
  /** Why the pass stopped before reaching charges younger than the grace, if it did. */
  stoppedBy?: unknown;
}

/** Default grace: 10 minutes (see the module comment). */
export const DEFAULT_ORPHAN_GRACE_MS = 10 * 60_000;
/** Default interval between passes: 1 minute. */
export const DEFAULT_ORPHAN_SCAN_INTERVAL_MS = 60_000;
/** Default lookback: two pass intervals (a pass late by up to one interval still covers a step back). */
export const DEFAULT_ORPHAN_LOOKBACK_MS = 2 * DEFAULT_ORPHAN_SCAN_INTERVAL_MS;

export class OrphanChargeReconciler {
  private readonly cursor: OrphanScanCursor;
  private running: Promise<OrphanPassResult> | undefined;

  constructor(private readonly options: OrphanChargeReconcilerOptions) {
    this.cursor = options.cursor ?? new MemoryOrphanScanCursor();
  }

  /** One pass (a pass already running is joined, not doubled). Never throws: see `stoppedBy`. */
  pass(): Promise<OrphanPassResult> {
    this.running ??= this.walk().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Resolves when the pass in progress (if any) has ended: for a clean stop. */
  async idle(): Promise<void> {
    await this.running;
  }

  private async walk(): Promise<OrphanPassResult> {
    const { provider, store, graceMs } = this.options;
    const maxPerPass = this.options.maxPerPass ?? 2_000;
    const pageSize = this.options.pageSize ?? 100;
    const lookbackMs = this.options.lookbackMs ?? DEFAULT_ORPHAN_LOOKBACK_MS;
    const result: OrphanPassResult = { checked: 0, voided: 0 };
    // Creation time (epoch ms) every charge before which this pass examined.
    let reached: number | undefined;
    try {
      const end = this.options.now() - graceMs;
      const cursor = (await this.cursor.get()) ?? 0;
      // A cursor past now − grace: the shared clock stepped back since it was set. Charges dated on
      // the stepped clock may sit below it: look back from the stepped clock's end instead. (Not
      // min(cursor, end − lookback) on every pass: a lookback window denser than maxPerPass would
      // use up each pass's budget re-reading the same charges.)
      const from = cursor > end ? end - lookbackMs : cursor;
      reached = from;
      let offset = 0;
      for (;;) {
        const limit = Math.min(pageSize, maxPerPass - result.checked);
        if (limit <= 0) break;
        const page = await provider.list("charge", { offset, limit, fromMs: from, toMs: end });
        for (const charge of page) {
          result.checked++;
          if (charge.status === "approved" && (await this.needsVoid(store, charge.idempotencyKey))) {
            // Counted when the record is written (one writer wins), not when the void returns:
            // a give-back stopped by an outage is finished by a later pass (break15 F3).
            const outcome = await this.options.voidOrphanCharge(charge.idempotencyKey, () => {
              result.voided++;
              this.options.onVoided?.(charge);
            });
            if (outcome === "given back") this.options.onGivenBack?.(charge);
          }
          // Inclusive next time: charges of the same millisecond are examined again, harmlessly.
          reached = Date.parse(charge.createdAt);
        }
        if (page.length < limit) {
          reached = end;
          break;
        }
        offset += page.length;
      }
      await this.cursor.set(reached);
      return result;
    } catch (error) {
      // Keep what was examined; the charge that stopped the pass is at or after `reached`.
      if (reached !== undefined) await this.cursor.set(reached).catch(() => undefined);
      return { ...result, stoppedBy: error };
    }
  }

  /** No record, or a voided one whose charge was not given back yet. */
  private async needsVoid(store: Pick<PaymentStore, "get">, orderId: string): Promise<boolean> {
    const record = await store.get(orderId);
    return !record || (record.status === "voided" && !record.refundId);
  }
}
