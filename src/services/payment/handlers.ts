/**
 * Event handlers: load the order's payment, decide (domain), call the provider, then save the
 * record and the events it causes in one atomic store write. Never a publish after a save.
 */
import type { AllEvents, OrderCompensationPaymentRefund, PaymentRequested } from "../../contracts/index.js";
import type { MessageContext } from "../../lib/bus/context.js";
import { BusError } from "../../lib/bus/errors.js";
import {
  type ChargeDecision,
  type ChargeFailure,
  capturedRecord,
  chargedAmount,
  classifyChargeError,
  decideCharge,
  decideRefund,
  declinedRecord,
  failedPayload,
  lateChargeRecord,
  type PaymentRecord,
  processedPayload,
  providerCharge,
  refundedRecord,
  ORPHAN_CHARGE_REASON,
  refundingRecord,
  voidedRecord,
} from "./domain.js";
import type { ChargeResult } from "./provider.js";
import { isProviderUnavailable, type ProviderClient } from "./provider-client.js";
import { type ReadTokenKey, type TokenOpener, TokenKeyGoneError } from "../../lib/security/payment-token.js";
import type { PaymentStore } from "./store.js";

export type HandlerContext = Pick<
  MessageContext<unknown, typeof AllEvents>,
  "prepare" | "publish" | "logger"
>;

export interface PaymentHandlerDeps {
  store: PaymentStore;
  provider: ProviderClient;
  now: () => number;
  newId: () => string;
  /** Opens the sealed token of `payment.requested` (only this service can; see payment-token.ts). */
  tokens: Pick<TokenOpener, "readKey">;
}

export const refundKey = (orderId: string): string => `refund:${orderId}`;

export { ORPHAN_CHARGE_REASON } from "./domain.js";

/** Compare-and-set writes that lose a race re-decide from fresh state this many times. */
const MAX_ROUNDS = 3;

export function createPaymentHandlers(deps: PaymentHandlerDeps) {
  const { store, provider } = deps;
  const at = () => new Date(deps.now()).toISOString();

  async function onChargeFailed(request: PaymentRequested, failure: ChargeFailure, ctx: HandlerContext) {
    const message = ctx.prepare(
      "payment.failed",
      failedPayload(request.orderId, failure, request.attempt),
    ).message;
    if (failure.transient) {
      await store.reportAttemptFailure(request.orderId, request.attempt, [message]);
      return;
    }
    const saved = await store.commit(declinedRecord(request, failure.reason, at()), null, [message]);
    if (!saved)
      ctx.logger.info({ orderId: request.orderId }, "decline not recorded: payment already settled");
  }

  /** The charge went through but the order was settled meanwhile (voided by a refund request). */
  async function onChargeNotSaved(request: PaymentRequested, charge: ChargeResult, ctx: HandlerContext) {
    const current = await store.get(request.orderId);
    if (current?.status !== "voided") return; // a concurrent delivery recorded the same charge
    ctx.logger.warn({ orderId: request.orderId }, "charged after the order was voided: refunding");
    const late = lateChargeRecord(current, request, charge, at());
    if (await store.commit(late, "voided", [])) await reverse(late);
  }

  /** Refunds a charge the saga never learnt about (the order was voided); returns the record after. */
  async function reverse(record: PaymentRecord): Promise<PaymentRecord> {
    const refund = await refundAtProvider(record);
    const reversed = { ...record, refundId: refund.refundId, updatedAt: at() };
    await store.commit(reversed, "voided", []);
    return reversed;
  }

  /**
   * A voided order with no charge known: voids the order's charge key at the provider, which answers
   * whether it holds a charge anyway (an attempt whose answer was lost and could not be settled
   * then), and gives that back. Undefined: nothing was charged, and the provider's tombstone on the
   * key makes sure nothing can be later (a charge frozen mid-commit that resumes finds the key
   * taken). Throws (retryable) while the provider cannot be asked: never assumes.
   */
  async function verifyVoid(record: PaymentRecord): Promise<PaymentRecord | undefined> {
    const entry = await provider.voidCharge(record.orderId);
    if (entry.status !== "approved") return undefined;
    const late: PaymentRecord = {
      ...record,
      amount: entry.amount,
      currency: entry.currency,
      providerChargeId: entry.id,
      ...(entry.fingerprint ? { tokenFingerprint: entry.fingerprint } : {}),
      updatedAt: at(),
    };
    await store.commit(late, "voided", []);
    return reverse(late);
  }

  /** The answer to a refund of a voided order: refunded (a lost charge given back) or nothing to undo. */
  async function answerVoided(record: PaymentRecord, ctx: HandlerContext): Promise<true> {
    const reversed = record.providerChargeId ? await reverse(record) : await verifyVoid(record);
    if (reversed) {
      await publishRefunded(reversed, ctx);
      return true;
    }
    await ctx.publish("payment.refund.skipped", {
      orderId: record.orderId,
      outcome: "nothing_to_undo",
      reason: "nothing was charged: a late charge request will be ignored",
    });
    return true;
  }

  async function publishRefunded(record: PaymentRecord, ctx: HandlerContext): Promise<void> {
    const { providerChargeId, refundId, amount, currency } = record;
    if (!providerChargeId || !refundId || amount === undefined || !currency) return;
    await ctx.publish("payment.refunded", {
      orderId: record.orderId,
      paymentId: record.paymentId ?? providerChargeId,
      refundId,
      amount,
      currency,
    });
  }

  async function refundAtProvider(record: PaymentRecord) {
    const { chargeId, amount, currency } = providerCharge(record);
    try {
      return await provider.refund({ idempotencyKey: refundKey(record.orderId), chargeId, amount, currency });
    } catch (error) {
      const failure = classifyChargeError(error);
      throw new BusError("REFUND_FAILED", `refund of order ${record.orderId} failed: ${failure.reason}`, {
        retryable: failure.transient,
        cause: error,
        retryAfterMs: provider.retryAfterMs(),
      });
    }
  }

  /** Carries out a decision that does not charge; false when the decision is to charge. */
  async function settleWithoutCharge(
    orderId: string,
    decision: ChargeDecision,
    ctx: HandlerContext,
  ): Promise<boolean> {
    switch (decision.action) {
      case "skip":
        ctx.logger.debug({ orderId, why: decision.why }, "payment request ignored");
        return true;
      case "reverse":
        await reverse(decision.record);
        return true;
      case "verify":
        await verifyVoid(decision.record);
        return true;
      case "charge":
        return false;
    }
  }

  /**
   * The token's key entry, or undefined when it is gone because the order settled while this request
   * waited (a stalled process resuming with a record read before the stall): the record, the
   * attempt's report and the order's outcome are read again, a settled record is acted on as it is now (skip, verify,
   * reverse) and an ended saga is acked, so a stale request is not dead-lettered as
   * DECRYPTION_FAILED, noise that hides real dead letters. A key gone with neither (the saga's end
   * is still queued behind this request: its refund compensation voids the order) is retried
   * (PAYMENT_TOKEN_KEY_GONE, retryable) until it settles. A token that cannot be opened otherwise
   * (unknown key, malformed entry) fails as DECRYPTION_FAILED: dead-lettered, nothing charged.
   */
  async function keyUnlessSettled(
    request: PaymentRequested,
    tokenKey: Promise<ReadTokenKey>,
    ctx: HandlerContext,
  ): Promise<ReadTokenKey | undefined> {
    try {
      return await tokenKey;
    } catch (error) {
      // Only a shredded key is the saga's doing; an altered or unknown one stays a dead letter.
      if (!(error instanceof TokenKeyGoneError)) throw error;
      const { orderId } = request;
      const [record, reported, outcome] = await Promise.all([
        store.get(orderId),
        store.attemptReported(orderId, request.attempt),
        store.outcome(orderId),
      ]);
      if (await settleWithoutCharge(orderId, decideCharge(record, reported), ctx)) {
        ctx.logger.info({ orderId }, "token key gone: the order settled meanwhile, request acked");
        return undefined;
      }
      if (!outcome) {
        throw new BusError(
          "PAYMENT_TOKEN_KEY_GONE",
          `the token key of order ${orderId} is gone but the order is not settled yet: waiting for the saga's end`,
          { retryable: true, cause: error },
        );
      }
      // The key cannot come back: nothing can be charged; the saga's compensation settles the rest.
      ctx.logger.info({ orderId, outcome }, "payment request ignored: the order ended while it waited");
      return undefined;
    }
  }

  async function paymentRequested(request: PaymentRequested, ctx: HandlerContext): Promise<void> {
    // The token's key entry is read with the record (one Redis round trip on the Redis platform);
    // the token is opened (decrypted) only below, once the request charges. The read's outcome (or
    // DECRYPTION_FAILED once the key is shredded) only counts for a charge.
    const tokenKey = deps.tokens.readKey(request.orderId, request.paymentToken);
    tokenKey.catch(() => undefined);
    const [record, reported] = await Promise.all([
      store.get(request.orderId),
      store.attemptReported(request.orderId, request.attempt),
    ]);
    if (await settleWithoutCharge(request.orderId, decideCharge(record, reported), ctx)) return;
    // Opened only for the call (not for a request that skips, reverses or verifies): the token in
    // clear is never stored, logged or published. A token that cannot be opened is handled before
    // the charge's failure handling (keyUnlessSettled): nothing is charged either way.
    const key = await keyUnlessSettled(request, tokenKey, ctx);
    if (!key) return;
    const opened = key.open();
    let charge: ChargeResult;
    try {
      charge = await provider.charge({
        idempotencyKey: request.orderId,
        amount: request.amount,
        currency: request.currency,
        token: opened,
      });
    } catch (error) {
      // The provider cannot be used now (circuit open, outage, outcome not known yet): the request
      // waits for a redelivery instead of spending one of the order's payment attempts.
      if (isProviderUnavailable(error)) {
        throw new BusError("PAYMENT_PROVIDER_UNAVAILABLE", `charge of order ${request.orderId} must wait`, {
          retryable: true,
          cause: error,
          // Not before the breaker lets a trial call through: a redelivery sooner only fails fast.
          retryAfterMs: provider.retryAfterMs(),
        });
      }
      return onChargeFailed(request, classifyChargeError(error), ctx);
    }
    const captured = capturedRecord(request, charge, deps.newId(), at());
    const message = ctx.prepare("payment.processed", processedPayload(captured)).message;
    if (!(await store.commit(captured, null, [message]))) await onChargeNotSaved(request, charge, ctx);
  }

  /** One decide-and-write round; false when a concurrent write got there first. */
  async function refundRound(command: OrderCompensationPaymentRefund, ctx: HandlerContext): Promise<boolean> {
    const decision = decideRefund(await store.get(command.orderId));
    switch (decision.action) {
      case "skip":
        // Answered every time (also on a redelivery): the saga tracks the compensation until a reply.
        ctx.logger.debug({ orderId: command.orderId, why: decision.why }, "refund skipped");
        await ctx.publish("payment.refund.skipped", {
          orderId: command.orderId,
          outcome: decision.outcome,
          reason: decision.why,
        });
        return true;
      case "void": {
        // The tombstone first (a late request must never charge), the answer once the provider
        // confirmed it holds nothing for the order.
        const voided = voidedRecord(command.orderId, command.reason, at());
        if (!(await store.commit(voided, null, []))) return false;
        return answerVoided(voided, ctx);
      }
      case "verify":
      case "reverse":
        return answerVoided(decision.record, ctx);
      case "announce": {
        const refunding = refundingRecord(decision.record, command.reason, at());
        const { paymentId, amount, currency } = chargedAmount(refunding);
        const message = ctx.prepare("payment.refund.requested", {
          orderId: command.orderId,
          paymentId,
          amount,
          currency,
        }).message;
        if (!(await store.commit(refunding, "captured", [message]))) return false;
        return completeRefund(refunding, ctx);
      }
      case "refund":
        return completeRefund(decision.record, ctx);
    }
  }

  async function completeRefund(record: PaymentRecord, ctx: HandlerContext): Promise<boolean> {
    const refund = await refundAtProvider(record);
    const refunded = refundedRecord(record, refund.refundId, at());
    const { paymentId, amount, currency } = chargedAmount(refunded);
    const message = ctx.prepare("payment.refunded", {
      orderId: record.orderId,
      paymentId,
      refundId: refund.refundId,
      amount,
      currency,
    }).message;
    return store.commit(refunded, "refunding", [message]);
  }

  async function refundRequested(
    command: OrderCompensationPaymentRefund,
    ctx: HandlerContext,
  ): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (await refundRound(command, ctx)) return;
    }
    throw new BusError("PAYMENT_CONTENDED", `payment of order ${command.orderId} kept changing`, {
      retryable: true,
    });
  }

  /**
   * A charge the provider holds for `orderId` and no payment record knows, past the orphan grace
   * period (orphan-charges.ts): the record is the arbiter. The tombstone is written only if no record
   * exists (compare-and-set), then the charge is voided at the provider by its idempotency key and
   * given back. A handler that charged and stalled past the grace finds the tombstone when it writes
   * its record: it publishes no `payment.processed` and gives the charge back (onChargeNotSaved).
   * A voided record whose charge is not given back yet (an earlier pass stopped by the provider) is
   * settled the same way. Returns `voided` when this call wrote the tombstone, `given back` when it
   * gave back the charge of an orphan tombstone an earlier call wrote (that call stopped before the
   * refund), `settled` otherwise. `onTombstone` runs once the tombstone is written, before the
   * provider is called (break15 F3): the orphan is counted exactly once (the compare-and-set has one
   * winner) even when its give-back then fails and a later pass finishes it. Throws
   * (`OutcomeUnknownError`, `BusError` REFUND_FAILED) while the provider cannot void or refund: the
   * next pass tries again.
   */
  async function voidOrphanCharge(
    orderId: string,
    onTombstone?: () => void,
  ): Promise<"voided" | "given back" | "settled"> {
    const tombstone = voidedRecord(orderId, ORPHAN_CHARGE_REASON, at());
    if (await store.commit(tombstone, null, [])) {
      onTombstone?.();
      await verifyVoid(tombstone);
      return "voided";
    }
    const record = await store.get(orderId);
    if (record?.status === "voided" && !record.refundId) {
      const reversed = record.providerChargeId ? await reverse(record) : await verifyVoid(record);
      if (reversed && record.reason === ORPHAN_CHARGE_REASON) return "given back";
    }
    return "settled";
  }

  const lock = keyedLock();
  return {
    voidOrphanCharge: (orderId: string, onTombstone?: () => void) =>
      lock(orderId, () => voidOrphanCharge(orderId, onTombstone)),
    paymentRequested: (request: PaymentRequested, ctx: HandlerContext) =>
      lock(request.orderId, () => paymentRequested(request, ctx)),
    refundRequested: (command: OrderCompensationPaymentRefund, ctx: HandlerContext) =>
      lock(command.orderId, () => refundRequested(command, ctx)),
  };
}

/**
 * Runs work for one key at a time in this instance. Only an optimisation (fewer duplicate provider
 * calls when an order's messages arrive together): correctness across instances comes from the
 * provider's idempotency keys and the store's compare-and-set writes.
 */
export function keyedLock() {
  const tails = new Map<string, Promise<unknown>>();
  return <T>(key: string, work: () => Promise<T>): Promise<T> => {
    const previous = tails.get(key) ?? Promise.resolve();
    const run = previous.then(work, work);
    const tail = run.catch(() => undefined);
    tails.set(key, tail);
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key);
    });
    return run;
  };
}
