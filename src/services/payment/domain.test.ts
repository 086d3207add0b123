import { describe, expect, it } from "vitest";
import { CircuitOpenError, TimeoutError } from "../../lib/resilience/index.js";
import {
  capturedRecord,
  classifyChargeError,
  decideCharge,
  decideRefund,
  lateChargeRecord,
  processedPayload,
  refundedRecord,
  refundingRecord,
  voidedRecord,
} from "./domain.js";
import { ProviderError } from "./provider.js";

const at = "2030-01-01T00:00:00.000Z";
const request = {
  orderId: "o-1",
  userId: "u-1",
  amount: 700,
  currency: "EUR",
  paymentToken: "tok_ok",
  attempt: 1,
};
const charge = { chargeId: "ch_1", fingerprint: "fp_1" };

describe("payment decisions", () => {
  it("charges an order it has never seen", () => {
    expect(decideCharge(undefined, false)).toEqual({ action: "charge" });
  });

  it("ignores a request once the order has a payment record; on a void tombstone it only asks the provider", () => {
    expect(decideCharge(capturedRecord(request, charge, "p-1", at), false).action).toBe("skip");
    expect(decideCharge(voidedRecord("o-1", "timeout", at), false).action).toBe("verify");
  });

  it("ignores a redelivered attempt whose transient failure was already reported", () => {
    expect(decideCharge(undefined, true).action).toBe("skip");
  });

  it("reverses a charge that landed on a void tombstone until its refund is recorded", () => {
    const late = lateChargeRecord(voidedRecord("o-1", "timeout", at), request, charge, at);
    expect(decideCharge(late, false)).toEqual({ action: "reverse", record: late });
    expect(decideCharge({ ...late, refundId: "re_1" }, false).action).toBe("skip");
  });

  it("voids an order with no payment, announces a captured one, resumes a refunding one", () => {
    const captured = capturedRecord(request, charge, "p-1", at);
    const refunding = refundingRecord(captured, "saga timeout", at);
    expect(decideRefund(undefined)).toEqual({ action: "void" });
    expect(decideRefund(captured).action).toBe("announce");
    expect(decideRefund(refunding).action).toBe("refund");
    expect(decideRefund(refundedRecord(refunding, "re_1", at)).action).toBe("skip");
    expect(decideRefund(voidedRecord("o-1", "x", at)).action).toBe("verify");
    const late = lateChargeRecord(voidedRecord("o-1", "timeout", at), request, charge, at);
    expect(decideRefund(late).action).toBe("reverse");
    expect(decideRefund({ ...late, refundId: "re_1" })).toMatchObject({
      action: "skip",
      outcome: "already_done",
    });
  });

  it("records the fingerprint and the money of a capture, never the token", () => {
    const captured = capturedRecord(request, charge, "p-1", at);
    expect(JSON.stringify(captured)).not.toContain("tok_");
    expect(processedPayload(captured)).toEqual({
      orderId: "o-1",
      paymentId: "p-1",
      amount: 700,
      currency: "EUR",
    });
  });

  it("classifies provider outcomes into the failure codes the saga understands", () => {
    expect(classifyChargeError(new ProviderError("card_declined", "no", false))).toMatchObject({
      code: "declined",
      transient: false,
    });
    expect(classifyChargeError(new ProviderError("processing_error", "oops", true))).toMatchObject({
      code: "provider_error",
      transient: true,
    });
    expect(classifyChargeError(new TimeoutError(2000))).toMatchObject({ code: "timeout", transient: true });
    expect(classifyChargeError(new CircuitOpenError("p", 10))).toMatchObject({
      code: "circuit_open",
      transient: true,
    });
  });

  it("words a card's processing error (tok_error) as a card error, not a provider error", () => {
    const failure = classifyChargeError(new ProviderError("processing_error", "oops", true));
    expect(failure.reason).toMatch(/^card error/);
    expect(failure.reason).not.toMatch(/provider/);
  });
});
