/**
 * The payment rules as pure functions: what a request or a refund should do given the order's
 * payment record, and the records and event payloads that result. No I/O, no clock: times and ids
 * come in as arguments.
 */
import type {
  CompensationSkipOutcome,
  PaymentFailed,
  PaymentFailureCode,
  PaymentProcessed,
  PaymentRequested,
} from "../../contracts/index.js";
import { CircuitOpenError, TimeoutError } from "../../lib/resilience/index.js";
import { ProviderError } from "./provider.js";

/**
 * `voided` is the tombstone of a refund that arrived before any charge: a late request for the order
 * must never charge. `refunding` is the step between `payment.refund.requested` and the provider's
 * refund, so a redelivered refund resumes instead of announcing the refund twice.
 */
export type PaymentStatus = "captured" | "declined" | "refunding" | "refunded" | "voided";

/** What the service remembers about an order's payment. Never the token: only its fingerprint. */
export interface PaymentRecord {
  orderId: string;
  status: PaymentStatus;
  userId?: string;
  paymentId?: string;
  amount?: number;
  currency?: string;
  tokenFingerprint?: string;
  providerChargeId?: string;
  refundId?: string;
  reason?: string;
  createdAt: string;
  updatedAt: string;
}

export type ChargeDecision =
  | { action: "charge" }
  | { action: "reverse"; record: PaymentRecord }
  | { action: "verify"; record: PaymentRecord }
  | { action: "skip"; why: string };

/**
 * A request is handled once per order, and once per attempt when a transient failure was reported.
 * `reverse`: a charge went through after the order was voided and its refund is still owed.
 * `verify`: the order was voided with no charge known, but an earlier attempt's outcome may have been
 * lost (a timeout, then the provider could not be asked): ask the provider before dropping the request.
 */
export function decideCharge(record: PaymentRecord | undefined, attemptReported: boolean): ChargeDecision {
  if (record?.status === "voided" && record.providerChargeId && !record.refundId) {
    return { action: "reverse", record };
  }
  if (record?.status === "voided" && !record.providerChargeId) return { action: "verify", record };
  if (record) return { action: "skip", why: `payment already ${record.status}` };
  if (attemptReported) return { action: "skip", why: "failure of this attempt already reported" };
  return { action: "charge" };
}

export type RefundDecision =
  | { action: "void" }
  | { action: "announce"; record: PaymentRecord }
  | { action: "refund"; record: PaymentRecord }
  | { action: "reverse"; record: PaymentRecord }
  | { action: "verify"; record: PaymentRecord }
  | { action: "skip"; why: string; outcome: CompensationSkipOutcome };

/**
 * A refund is never refused: money can always be given back. A voided order is answered only once
 * the provider confirmed it holds no charge for it (`verify`), or the charge it holds was given back
 * (`reverse`): a charge whose answer was lost must not be forgotten.
 */
export function decideRefund(record: PaymentRecord | undefined): RefundDecision {
  if (!record) return { action: "void" };
  if (record.status === "captured") return { action: "announce", record };
  if (record.status === "refunding") return { action: "refund", record };
  if (record.status === "voided" && !record.providerChargeId) return { action: "verify", record };
  if (record.status === "voided" && !record.refundId) return { action: "reverse", record };
  const outcome = record.status === "refunded" || record.refundId ? "already_done" : "nothing_to_undo";
  return { action: "skip", why: `payment ${record.status}: nothing to refund`, outcome };
}

export interface ChargeFailure {
  code: PaymentFailureCode;
  transient: boolean;
  reason: string;
}

/** Maps whatever the provider call threw to the failure the saga is told about. */
export function classifyChargeError(error: unknown): ChargeFailure {
  if (error instanceof ProviderError) {
    if (error.code === "card_declined")
      return { code: "declined", transient: false, reason: "card declined" };
    // The provider is fine; this card could not be processed (Stripe's `processing_error`).
    if (error.code === "processing_error")
      return {
        code: "provider_error",
        transient: error.transient,
        reason: "card error: the card could not be processed",
      };
    return { code: "provider_error", transient: error.transient, reason: `provider error: ${error.code}` };
  }
  if (error instanceof TimeoutError) {
    return { code: "timeout", transient: true, reason: "payment provider did not answer in time" };
  }
  if (error instanceof CircuitOpenError) {
    return { code: "circuit_open", transient: true, reason: "payment provider unavailable (circuit open)" };
  }
  return { code: "provider_error", transient: true, reason: "payment provider call failed" };
}

export function capturedRecord(
  request: PaymentRequested,
  charge: { chargeId: string; fingerprint: string },
  paymentId: string,
  at: string,
): PaymentRecord {
  return {
    orderId: request.orderId,
    status: "captured",
    userId: request.userId,
    paymentId,
    amount: request.amount,
    currency: request.currency,
    tokenFingerprint: charge.fingerprint,
    providerChargeId: charge.chargeId,
    createdAt: at,
    updatedAt: at,
  };
}

export function declinedRecord(request: PaymentRequested, reason: string, at: string): PaymentRecord {
  return {
    orderId: request.orderId,
    status: "declined",
    userId: request.userId,
    amount: request.amount,
    currency: request.currency,
    reason,
    createdAt: at,
    updatedAt: at,
  };
}

/**
 * The reason of the record the orphan-charge reconciler writes (orphan-charges.ts): the provider held
 * a charge for the order with no payment record past the grace period (the order was lost with
 * Redis's last writes). The reconciliation lists such records.
 */
export const ORPHAN_CHARGE_REASON =
  "ORPHAN_CHARGE: the provider held a charge with no payment record past the grace period; voided and given back";

export const voidedRecord = (orderId: string, reason: string, at: string): PaymentRecord => ({
  orderId,
  status: "voided",
  reason,
  createdAt: at,
  updatedAt: at,
});

/** A charge that lost the race to a void: remember it on the tombstone until it is refunded. */
export const lateChargeRecord = (
  voided: PaymentRecord,
  request: PaymentRequested,
  charge: { chargeId: string; fingerprint: string },
  at: string,
): PaymentRecord => ({
  ...voided,
  userId: request.userId,
  amount: request.amount,
  currency: request.currency,
  tokenFingerprint: charge.fingerprint,
  providerChargeId: charge.chargeId,
  updatedAt: at,
});

export const refundingRecord = (record: PaymentRecord, reason: string, at: string): PaymentRecord => ({
  ...record,
  status: "refunding",
  reason,
  updatedAt: at,
});

export const refundedRecord = (record: PaymentRecord, refundId: string, at: string): PaymentRecord => ({
  ...record,
  status: "refunded",
  refundId,
  updatedAt: at,
});

/** What the provider needs to refund a record's charge; throws if there is no charge. */
export function providerCharge(record: PaymentRecord): {
  chargeId: string;
  amount: number;
  currency: string;
} {
  const { providerChargeId, amount, currency } = record;
  if (providerChargeId === undefined || amount === undefined || !currency) {
    throw new Error(`payment of order ${record.orderId} has no provider charge`);
  }
  return { chargeId: providerChargeId, amount, currency };
}

/** The money facts of a captured record; throws if the record is not one (a programming error). */
export function chargedAmount(record: PaymentRecord): {
  paymentId: string;
  chargeId: string;
  amount: number;
  currency: string;
} {
  const { paymentId, providerChargeId, amount, currency } = record;
  if (paymentId === undefined || providerChargeId === undefined || amount === undefined || !currency) {
    throw new Error(`payment of order ${record.orderId} has no charge`);
  }
  return { paymentId, chargeId: providerChargeId, amount, currency };
}

export function processedPayload(record: PaymentRecord): PaymentProcessed {
  const { paymentId, amount, currency } = chargedAmount(record);
  return { orderId: record.orderId, paymentId, amount, currency };
}

export const failedPayload = (orderId: string, failure: ChargeFailure, attempt: number): PaymentFailed => ({
  orderId,
  reason: failure.reason,
  code: failure.code,
  transient: failure.transient,
  attempt,
});
