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
 * Walk: the provider's charges oldest first (its dashboard list), from where the last pass stopped
 * (kept in memory: a restarted instance walks from the start once, `maxPerPass` per pass). A pass
 * stops at the first charge younger than the grace, and at a charge the provider cannot void now
 * (asked again next pass).
 */
import type { LedgerEntry, LedgerPage } from "./provider.js";
import type { PaymentStore } from "./store.js";

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

export class OrphanChargeReconciler {
  /** Position in the provider's charge list below which every charge is settled (has a record). */
  private offset = 0;
  private running: Promise<OrphanPassResult> | undefined;

  constructor(private readonly options: OrphanChargeReconcilerOptions) {}

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
    const limit = this.options.pageSize ?? 100;
    const result: OrphanPassResult = { checked: 0, voided: 0 };
    try {
      while (result.checked < maxPerPass) {
        const page = await provider.list("charge", { offset: this.offset, limit });
        const cutoff = this.options.now() - graceMs;
        for (const charge of page) {
          if (Date.parse(charge.createdAt) > cutoff) return result;
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
          this.offset++;
        }
        if (page.length < limit) return result;
      }
      return result;
    } catch (error) {
      return { ...result, stoppedBy: error };
    }
  }

  /** No record, or a voided one whose charge was not given back yet. */
  private async needsVoid(store: Pick<PaymentStore, "get">, orderId: string): Promise<boolean> {
    const record = await store.get(orderId);
    return !record || (record.status === "voided" && !record.refundId);
  }
}
