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
