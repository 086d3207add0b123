/**
 * The reconciliation decides whether a charge or a refund exists from the provider's entry and the
 * record, never from the amount: a zero-total order is charged (and refunded) 0 (break13 F7).
 */
import { describe, expect, it } from "vitest";
import { ORPHAN_CHARGE_REASON, type PaymentRecord } from "./domain.js";
import type { LedgerEntry } from "./provider.js";
import { mismatchOf, type PaymentRow } from "./reconciliation.js";

const at = "2026-01-01T00:00:00.000Z";
const entry = (
  kind: LedgerEntry["kind"],
  amount: number,
  status: LedgerEntry["status"] = "approved",
): LedgerEntry => ({
  kind,
  idempotencyKey: kind === "charge" ? "o-1" : "refund:o-1",
  id: kind === "charge" ? "ch_1" : "re_1",
  status,
  amount,
  currency: "USD",
  createdAt: at,
});
const record = (overrides: Partial<PaymentRecord>): PaymentRecord => ({
  orderId: "o-1",
  status: "captured",
  paymentId: "pay-1",
  amount: 0,
  currency: "USD",
  providerChargeId: "ch_1",
  createdAt: at,
  updatedAt: at,
  ...overrides,
});
const row = (overrides: Partial<PaymentRow>): PaymentRow => ({
  orderId: "o-1",
  record: undefined,
  charge: undefined,
  refund: undefined,
  outcome: undefined,
  failedAttempts: 0,
  ...overrides,
});

// break16 F5: an orphan-voided record was listed as "its order was lost with Redis's last writes"
// even when the order's outcome (failed) was known and its money was back.
describe("mismatchOf, a charge the orphan pass voided", () => {
  const orphan = {
    record: record({ status: "voided", reason: ORPHAN_CHARGE_REASON, amount: 999, refundId: "re_1" }),
    charge: entry("charge", 999),
    refund: entry("refund", 999),
  };
  it("is a lost order only while the order's outcome is unknown", () => {
    expect(mismatchOf(row(orphan))).toMatch(/^orphan charge \(its order was lost/);
  });
  it("of an order that failed, with its money back, agrees", () => {
    expect(mismatchOf(row({ ...orphan, outcome: "failed" }))).toBeUndefined();
  });
  it("of an order that completed is judged by its outcome: the money it should hold is missing", () => {
    expect(mismatchOf(row({ ...orphan, outcome: "completed" }))).toMatch(
      /^order completed but the provider holds 0/,
    );
  });
});

describe("mismatchOf", () => {
  it("a completed zero-total order, charged 0, agrees", () => {
    expect(mismatchOf(row({ record: record({}), charge: entry("charge", 0), outcome: "completed" }))).toBe(
      undefined,
    );
  });

  it("a cancelled zero-total order, charged and refunded 0, agrees", () => {
    const refunded = record({ status: "refunded", refundId: "re_1" });
    const r = row({
      record: refunded,
      charge: entry("charge", 0),
      refund: entry("refund", 0),
      outcome: "cancelled",
    });
    expect(mismatchOf(r)).toBe(undefined);
  });

  it("still tells a charge or refund one side holds and the other does not, whatever its amount", () => {
    expect(mismatchOf(row({ record: record({}) }))).toBe(
      "the payment record holds a charge the provider does not",
    );
    // A voided tombstone (amount 0) is no charge.
    expect(mismatchOf(row({ record: record({}), charge: entry("charge", 0, "voided") }))).toBe(
      "the payment record holds a charge the provider does not",
    );
    expect(mismatchOf(row({ charge: entry("charge", 0) }))).toBe(
      "the provider holds a charge the payment record does not",
    );
    const refunded = record({ status: "refunded", refundId: "re_1" });
    expect(mismatchOf(row({ record: refunded, charge: entry("charge", 0) }))).toBe(
      "the payment record holds a refund the provider does not",
    );
    expect(
      mismatchOf(row({ record: record({}), charge: entry("charge", 0), refund: entry("refund", 0) })),
    ).toBe("the provider holds a refund the payment record does not");
  });
});

// break34 F2: the order's outcome (a 7-day marker until then) expired, and a record without one was
// judged by existence only: a refund never settled, a late charge never given back, read as agreeing.
describe("mismatchOf, a record whose order outcome is not known", () => {
  const charged = entry("charge", 1500);
  it("lists a refund never settled: the provider still holds the charge (break34 F2)", () => {
    const refunding = record({ status: "refunding", amount: 1500, reason: "saga gave up" });
    expect(mismatchOf(row({ record: refunding, charge: charged }))).toBe(
      "payment refunding, no order outcome known: the provider still holds 1500",
    );
  });
  it("lists a late charge on a voided order not given back yet (break34 F2)", () => {
    const voided = record({ status: "voided", amount: 1500 });
    expect(mismatchOf(row({ record: voided, charge: charged }))).toBe(
      "payment voided, no order outcome known: the provider still holds 1500",
    );
  });
  it("agrees with a record whose money is where its status says", () => {
    // Captured: an order in flight (or one completed before outcomes were kept) holds its total.
    expect(mismatchOf(row({ record: record({ amount: 1500 }), charge: charged }))).toBeUndefined();
    const refunded = record({ status: "refunded", amount: 1500, refundId: "re_1" });
    expect(mismatchOf(row({ record: refunded, charge: charged, refund: entry("refund", 1500) }))).toBe(
      undefined,
    );
    const tombstone = record({ status: "voided", providerChargeId: undefined });
    expect(mismatchOf(row({ record: tombstone }))).toBeUndefined();
    expect(mismatchOf(row({ record: tombstone, charge: entry("charge", 0, "voided") }))).toBeUndefined();
  });
  it("lists a captured record whose provider money is not its total", () => {
    expect(mismatchOf(row({ record: record({ amount: 1500 }), charge: entry("charge", 900) }))).toBe(
      "payment captured, no order outcome known: the provider holds 900 of 1500",
    );
  });
});
