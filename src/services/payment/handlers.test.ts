import { describe, expect, it } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { silentLogger } from "../../lib/bus/context.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { BusError } from "../../lib/bus/errors.js";
import { DecryptionError } from "../../lib/security/encryption.js";
import { TokenKeyGoneError } from "../../lib/security/payment-token.js";
import { voidedRecord } from "./domain.js";
import { createPaymentHandlers } from "./handlers.js";
import { type PaymentProvider, SimulatedPaymentProvider } from "./provider.js";
import { createProviderClient } from "./provider-client.js";
import { mismatchOf } from "./reconciliation.js";
import { MemoryPaymentStore } from "./store.js";

const publisher = new Publisher({
  events: AllEvents,
  transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  source: { service: "payment", instance: "test" },
});
const ctx = {
  prepare: publisher.prepare.bind(publisher),
  publish: publisher.publish.bind(publisher),
  logger: silentLogger,
};
const request = {
  orderId: "o-1",
  userId: "u-1",
  amount: 900,
  currency: "USD",
  paymentToken: "tok_ok",
  attempt: 1,
};

describe("payment handlers", () => {
  it("refunds at once a charge that completes after the order was voided, and tells nobody", async () => {
    const sent: OutgoingMessage[] = [];
    const store = new MemoryPaymentStore(async (messages) => {
      sent.push(...messages);
    });
    const inner = new SimulatedPaymentProvider();
    // The refund compensation lands while the provider is still charging.
    const racing: PaymentProvider = {
      charge: async (r, signal) => {
        const result = await inner.charge(r, signal);
        await store.commit(
          voidedRecord(r.idempotencyKey, "saga timed out", "2030-01-01T00:00:00.000Z"),
          null,
          [],
        );
        return result;
      },
      refund: (r, signal) => inner.refund(r, signal),
      retrieve: (kind, key, signal) => inner.retrieve(kind, key, signal),
      voidCharge: (key, signal) => inner.voidCharge(key, signal),
      list: (kind, page) => inner.list(kind, page),
    };
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: racing }),
      now: () => 0,
      newId: () => "pay-1",
      // The handler gets the token from the opener (sealing is payment-token.test.ts's subject).
      tokens: { readKey: async () => ({ open: () => request.paymentToken }) },
    });
    await handlers.paymentRequested(request, ctx);
    const record = await store.get("o-1");
    expect(record).toMatchObject({ status: "voided", providerChargeId: expect.stringMatching(/^ch_/) });
    expect(record?.refundId).toMatch(/^re_/);
    expect(await inner.ledger.get("refund", "refund:o-1")).toMatchObject({
      chargeId: record?.providerChargeId,
    });
    expect(sent).toEqual([]);
    await handlers.paymentRequested(request, ctx);
    expect(sent).toEqual([]);
  });

  it("reads the payment token's key while it reads the payment record, not after", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    let opening = false;
    const read = store.get.bind(store);
    // The record read resolves only once the token's key is being read: a handler that reads the
    // record first and the key afterwards never gets past it.
    store.get = async (orderId) => {
      for (let i = 0; i < 100 && !opening; i++) await new Promise((r) => setTimeout(r, 1));
      if (!opening) throw new Error("the token's key was not being read while the record was read");
      return read(orderId);
    };
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: new SimulatedPaymentProvider() }),
      now: () => 0,
      newId: () => "pay-2",
      tokens: {
        readKey: async () => {
          opening = true;
          return { open: () => request.paymentToken };
        },
      },
    });
    await handlers.paymentRequested({ ...request, orderId: "o-2" }, ctx);
    expect(await read("o-2")).toMatchObject({ status: "captured", amount: 900 });
  });

  it("ignores a token that cannot be opened when the request does not charge, and fails one that does", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    const inner = new SimulatedPaymentProvider();
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: inner }),
      now: () => 0,
      newId: () => "pay-3",
      tokens: { readKey: async () => Promise.reject(new Error("the token key is gone (shredded)")) },
    });
    // A voided order (verified at the provider) and an attempt already reported (skipped).
    await store.commit(voidedRecord("o-3", "saga ended", "2030-01-01T00:00:00.000Z"), null, []);
    await store.reportAttemptFailure("o-5", 1, []);
    await expect(handlers.paymentRequested({ ...request, orderId: "o-3" }, ctx)).resolves.toBeUndefined();
    await expect(handlers.paymentRequested({ ...request, orderId: "o-5" }, ctx)).resolves.toBeUndefined();
    await expect(handlers.paymentRequested({ ...request, orderId: "o-4" }, ctx)).rejects.toThrow("shredded");
    // Nothing charged; the voided order's key holds the void's tombstone (no charge can land on it).
    expect((await inner.ledger.list("charge")).map((e) => [e.idempotencyKey, e.status])).toEqual([
      ["o-3", "voided"],
    ]);
  });

  it("opens (decrypts) the token only for a charge: not for a redelivery after the capture, nor a voided order", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    const inner = new SimulatedPaymentProvider();
    const opened: string[] = [];
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: inner }),
      now: () => 0,
      newId: () => "pay-6",
      tokens: {
        readKey: async (orderId) => ({
          open: () => {
            opened.push(orderId);
            return request.paymentToken;
          },
        }),
      },
    });
    await handlers.paymentRequested({ ...request, orderId: "o-6" }, ctx);
    expect(await store.get("o-6")).toMatchObject({ status: "captured" });
    expect(opened).toEqual(["o-6"]);
    // The same request redelivered (and replayed from the DLQ): the capture is already recorded.
    await handlers.paymentRequested({ ...request, orderId: "o-6" }, ctx);
    await handlers.paymentRequested({ ...request, orderId: "o-6" }, ctx);
    // A request for an order voided meanwhile (verified at the provider, never charged).
    await store.commit(voidedRecord("o-7", "saga ended", "2030-01-01T00:00:00.000Z"), null, []);
    await handlers.paymentRequested({ ...request, orderId: "o-7" }, ctx);
    expect(opened).toEqual(["o-6"]);
    expect((await inner.ledger.list("charge")).map((e) => [e.idempotencyKey, e.status])).toEqual([
      ["o-6", "approved"],
      ["o-7", "voided"],
    ]);
  });

  it("moves no money when a charge held past its in-flight lease commits after its void was confirmed", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    let reached = (): void => undefined;
    const holding = new Promise<void>((resolve) => (reached = resolve));
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const inner = new SimulatedPaymentProvider({
      processingDelay: () => {
        reached();
        return held;
      },
    });
    // The frozen instance's charge (SIGSTOP mid-commit): taken by the provider, its commit held.
    const late = inner.charge({
      idempotencyKey: "o-8",
      amount: 900,
      currency: "USD",
      token: "tok_late_commit",
    });
    late.catch(() => undefined);
    await holding;
    // Its in-flight lease lapses while the process is frozen: the provider now answers "no such call".
    await inner.ledger.endCall("charge", "o-8");
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: inner }),
      now: () => 0,
      newId: () => "pay-8",
      tokens: { readKey: async () => ({ open: () => "tok_late_commit" }) },
    });
    // The saga's refund on another instance: nothing taken, the void is confirmed.
    await handlers.refundRequested({ orderId: "o-8", reason: "payment step timed out" }, ctx);
    expect(await store.get("o-8")).toMatchObject({ status: "voided" });
    // The frozen process resumes and commits; no continuation of it runs (kill -9 right after).
    release();
    await expect(late).rejects.toMatchObject({ code: "charge_voided", transient: false });
    const charge = await inner.ledger.get("charge", "o-8");
    expect(charge?.status).not.toBe("approved");
    const row = {
      orderId: "o-8",
      record: await store.get("o-8"),
      charge,
      refund: await inner.ledger.get("refund", "refund:o-8"),
      outcome: "failed" as const,
      failedAttempts: 0,
    };
    expect(mismatchOf(row)).toBeUndefined();
  });

  it("acks, not dead-letters, a charge decided from a record read before a stall when the saga ended meanwhile and shredded the token key", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    const inner = new SimulatedPaymentProvider();
    const read = store.get.bind(store);
    const stale = new Set(["o-9", "o-10"]);
    // The record is read before the stall (nothing yet); during it the saga ends: o-9 is voided by
    // the refund compensation, o-10's outcome is announced; both token keys are shredded.
    store.get = async (orderId) => {
      if (!stale.delete(orderId)) return read(orderId);
      if (orderId === "o-9")
        await store.commit(voidedRecord("o-9", "saga ended", "2030-01-01T00:00:00.000Z"), null, []);
      else await store.recordOutcome(orderId, "cancelled");
      return undefined;
    };
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: inner }),
      now: () => 0,
      newId: () => "pay-9",
      tokens: {
        readKey: async (orderId) => {
          throw new TokenKeyGoneError(orderId);
        },
      },
    });
    await expect(handlers.paymentRequested({ ...request, orderId: "o-9" }, ctx)).resolves.toBeUndefined();
    await expect(handlers.paymentRequested({ ...request, orderId: "o-10" }, ctx)).resolves.toBeUndefined();
    expect(await store.get("o-9")).toMatchObject({ status: "voided" });
    expect(await store.get("o-10")).toBeUndefined();
    const charged = (await inner.ledger.list("charge")).filter((e) => e.status === "approved");
    expect(charged).toEqual([]);
  });

  it("dead-letters a token that cannot be opened for another reason (altered, unknown key) even when the order has ended: tampering stays visible", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    const inner = new SimulatedPaymentProvider();
    await store.recordOutcome("o-12", "cancelled");
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: inner }),
      now: () => 0,
      newId: () => "pay-12",
      tokens: {
        readKey: async () => {
          throw new DecryptionError("the token's key entry is malformed");
        },
      },
    });
    await expect(handlers.paymentRequested({ ...request, orderId: "o-12" }, ctx)).rejects.toMatchObject({
      code: "DECRYPTION_FAILED",
    });
    expect(await inner.ledger.list("charge")).toEqual([]);
  });

  it("waits (retryable), not dead-letters, a request whose token key is gone before the saga's end reached payment, then acks it once the order is voided", async () => {
    const store = new MemoryPaymentStore(async () => undefined);
    const inner = new SimulatedPaymentProvider();
    const handlers = createPaymentHandlers({
      store,
      provider: createProviderClient({ provider: inner }),
      now: () => 0,
      newId: () => "pay-11",
      tokens: {
        readKey: async (orderId) => {
          throw new TokenKeyGoneError(orderId);
        },
      },
    });
    // Both payment instances stalled: the saga timed out, shredded the key and queued its refund
    // compensation behind this request.
    const waiting = await handlers
      .paymentRequested({ ...request, orderId: "o-11" }, ctx)
      .catch((e: unknown) => e);
    expect(waiting).toBeInstanceOf(BusError);
    expect(waiting).toMatchObject({ code: "PAYMENT_TOKEN_KEY_GONE", retryable: true });
    // The compensation is handled; the request's redelivery finds the order voided and acks.
    await handlers.refundRequested({ orderId: "o-11", reason: "payment step timed out" }, ctx);
    await expect(handlers.paymentRequested({ ...request, orderId: "o-11" }, ctx)).resolves.toBeUndefined();
    const charged = (await inner.ledger.list("charge")).filter((e) => e.status === "approved");
    expect(charged).toEqual([]);
  });
});
