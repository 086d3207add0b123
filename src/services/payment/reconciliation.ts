/**
 * What operators see of the money: one order's payment next to the provider's own ledger for it,
 * and the reconciliation of every order — record against provider, and money against the order's
 * settled outcome. Pure: the rows come in already read.
 */
import { ORPHAN_CHARGE_REASON, type PaymentRecord, type PaymentStatus } from "./domain.js";
import type { LedgerEntry } from "./provider.js";
import type { OrderOutcome } from "./store.js";

/** The provider's ledger for one order, in cents. */
export interface ProviderMoney {
  charged: number;
  refunded: number;
}

/** The provider's part of a view while the provider cannot be asked: amounts unknown, and why. */
export interface UnknownProviderMoney {
  charged: null;
  refunded: null;
  unknown: string;
}

/** `GET /payments/:orderId`. Amounts in cents; `status` is the record's, or `none` without one. */
export interface PaymentView {
  orderId: string;
  status: PaymentStatus | "none";
  amount: number | null;
  currency: string | null;
  refundedAmount: number;
  /** Charge attempts the service handled (failed ones reported to the saga, plus the settling one). */
  attempts: number;
  updatedAt: string | null;
  /** The provider's own ledger for the order, or (provider down or busy) `unknown` with the reason. */
  provider: ProviderMoney | UnknownProviderMoney;
}

export interface PaymentRow {
  orderId: string;
  record: PaymentRecord | undefined;
  charge: LedgerEntry | undefined;
  refund: LedgerEntry | undefined;
  outcome: OrderOutcome | undefined;
  failedAttempts: number;
  /**
   * The provider's own words when it answered that a call for the order (its charge or refund key)
   * is still being processed (`request_in_progress`): that side's entry is not known yet, so the
   * row's money cannot be judged; absent otherwise (break34 F1).
   */
  inProgress?: string;
}

/**
 * A row of the reconciliation. `kind` (added by break34 F1; the other fields unchanged):
 * - `mismatch`: the record, the provider and the order's outcome disagree (`reason` says how);
 *   `provider` is the provider's money for the order;
 * - `in_progress`: the provider answered that a call for the order is still being processed, so
 *   its money cannot be judged yet: re-check later (`reason`); `provider` is then
 *   `{ charged: null, refunded: null, unknown }` with the provider's words, as in `PaymentView`.
 */
export interface Mismatch {
  orderId: string;
  kind: "mismatch" | "in_progress";
  reason: string;
  status: PaymentStatus | "none";
  outcome: OrderOutcome | null;
  /** The order total the record charged, in cents (null without a charge). */
  amount: number | null;
  provider: ProviderMoney | UnknownProviderMoney;
}

/** Why an `in_progress` row is listed (README, docs/saga.md "Manual resolution"). */
export const IN_PROGRESS_REASON =
  "a provider call for this order is still in progress at the provider: re-check later";

export function providerMoney(
  charge: LedgerEntry | undefined,
  refund: LedgerEntry | undefined,
): ProviderMoney {
  return {
    charged: charge?.status === "approved" ? charge.amount : 0,
    refunded: refund?.status === "approved" ? refund.amount : 0,
  };
}

/** A record that holds a charge the service took (a voided one may hold a late charge). */
const holdsCharge = (record: PaymentRecord | undefined): boolean =>
  record !== undefined && record.providerChargeId !== undefined;

const holdsRefund = (record: PaymentRecord | undefined): boolean => record?.refundId !== undefined;

export function paymentView(row: PaymentRow, unknown?: { unknown: string }): PaymentView {
  const { record } = row;
  const provider = unknown ?? (row.inProgress !== undefined ? { unknown: row.inProgress } : undefined);
  // The attempt that settled the record counts; a void counts only when a charge landed before it.
  const settled = record && (record.status !== "voided" || holdsCharge(record)) ? 1 : 0;
  return {
    orderId: row.orderId,
    status: record?.status ?? "none",
    amount: record?.amount ?? null,
    currency: record?.currency ?? null,
    refundedAmount: holdsRefund(record) ? (record?.amount ?? 0) : 0,
    attempts: row.failedAttempts + settled,
    updatedAt: record?.updatedAt ?? null,
    provider: provider
      ? { charged: null, refunded: null, unknown: provider.unknown }
      : providerMoney(row.charge, row.refund),
  };
}

/**
 * Where a record's status says the money should be, judged without the order's outcome (break34
 * F2): `captured` holds its total; `refunding`, `refunded`, `voided` and `declined` hold nothing (a
 * late charge on a voided order is owed back). Undefined when the provider agrees.
 */
function byRecordAlone(record: PaymentRecord, net: number): string | undefined {
  const expected = record.status === "captured" ? (record.amount ?? 0) : 0;
  if (net === expected) return undefined;
  return record.status === "captured"
    ? `payment captured, no order outcome known: the provider holds ${net} of ${record.amount ?? "?"}`
    : `payment ${record.status}, no order outcome known: the provider still holds ${net}`;
}

/**
 * Why the record, the provider and the order's outcome disagree, or undefined when they agree.
 * A refund still in flight (`refunding`, or a failed order whose refund has not started) shows as a
 * mismatch until it settles: the reconciliation is a snapshot, read it again to see it clear. An
 * orphan charge the payment service voided (orphan-charges.ts) is listed for good, as a lost order,
 * unless its order's outcome is known: then it is judged by that outcome (break16 F5). Without an
 * outcome (an order in flight, or one whose outcome an earlier release let expire after 7 days), a
 * record is judged by its own status (break34 F2), so money owed stays listed whatever its age. A
 * row whose provider call is in progress cannot be judged: `IN_PROGRESS_REASON` (break34 F1).
 */
export function mismatchOf(row: PaymentRow): string | undefined {
  const { record, outcome } = row;
  if (row.inProgress !== undefined) return IN_PROGRESS_REASON;
  const money = providerMoney(row.charge, row.refund);
  // Whether each side holds a charge (a refund) is the entry's or the record's existence, never its
  // amount: a zero-total order (a product of price 0) is charged 0 and, cancelled, refunded 0, and
  // those are a charge and a refund the provider holds (break13 F7). A `voided` tombstone is no charge.
  const providerCharged = row.charge?.status === "approved";
  const providerRefunded = row.refund?.status === "approved";
  if (providerCharged && !holdsCharge(record))
    return "the provider holds a charge the payment record does not";
  if (holdsCharge(record) && !providerCharged)
    return "the payment record holds a charge the provider does not";
  if (holdsRefund(record) && !providerRefunded)
    return "the payment record holds a refund the provider does not";
  if (providerRefunded && !holdsRefund(record) && record?.status !== "refunding")
    return "the provider holds a refund the payment record does not";
  const net = money.charged - money.refunded;
  // Listed for good, given back or not: each is an order the system accepted and then lost. Not
  // when its outcome is known (break16 F5): the order exists, its charge was voided by the orphan
  // pass while its payment record was missing (a stalled handler), and its money is judged below.
  if (record?.reason === ORPHAN_CHARGE_REASON && outcome === undefined)
    return net === 0
      ? "orphan charge (its order was lost with Redis's last writes): voided and given back by the payment service"
      : `orphan charge (its order was lost with Redis's last writes): voided, ${net} not given back yet`;
  if (outcome === "completed" || outcome === "delivered") {
    if (net !== (record?.amount ?? -1))
      return `order ${outcome} but the provider holds ${net} of ${record?.amount ?? "?"}`;
  } else if (outcome === "failed" || outcome === "cancelled" || outcome === "compensation_resolved") {
    if (net !== 0) return `order ${outcome} but the provider still holds ${net}`;
  } else if (outcome === "compensation_failed") {
    return "order compensation_failed: needs an operator";
  } else if (record) {
    return byRecordAlone(record, net);
  }
  return undefined;
}

export function reconcile(rows: readonly PaymentRow[]): Mismatch[] {
  return rows.flatMap((row) => {
    const reason = mismatchOf(row);
    if (!reason) return [];
    const busy = row.inProgress;
    return [
      {
        orderId: row.orderId,
        kind: busy === undefined ? ("mismatch" as const) : ("in_progress" as const),
        reason,
        status: row.record?.status ?? "none",
        outcome: row.outcome ?? null,
        amount: holdsCharge(row.record) ? (row.record?.amount ?? null) : null,
        provider:
          busy === undefined
            ? providerMoney(row.charge, row.refund)
            : { charged: null, refunded: null, unknown: busy },
      },
    ];
  });
}
