/**
 * The payment service under the provider faults production brings (issue 8 inputs 1-3): a late
 * answer, a provider outage, an open breaker. Money must end right, never in between.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryPlatform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { type PaymentProvider, SimulatedPaymentProvider } from "./provider.js";
import type { PaymentServiceOptions } from "./service.js";
import { countingProvider, type Harness, refund, request, start } from "./test-harness.js";

describe("payment service under provider faults", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  const launch = async (options: PaymentServiceOptions = {}) => {
    harness = await start(createMemoryPlatform(), { mustComplete: { baseDelayMs: 20 }, ...options });
    return harness;
  };
  const record = async (h: Harness, orderId: string) =>
    (await (await fetch(`${h.running.url}/payments/${orderId}`)).json()) as Record<string, unknown>;

  it("a charge committed by the provider but answered after the timeout is captured, not failed", async () => {
    const inner = new SimulatedPaymentProvider();
    // Commits at once, answers after the client gave up (whatever the token): an answer lost late.
    const late: PaymentProvider = {
      charge: async (r, signal) => {
        const result = await inner.charge(r);
        await new Promise((resolve) => setTimeout(resolve, 400));
        signal?.throwIfAborted();
        return result;
      },
      refund: (r, signal) => inner.refund(r, signal),
      retrieve: (kind, key, signal) => inner.retrieve(kind, key, signal),
      voidCharge: (key, signal) => inner.voidCharge(key, signal),
      list: (kind, page) => inner.list(kind, page),
    };
    const h = await launch({ provider: late, timeoutMs: 100 });
    await h.saga.publish("payment.requested", request("late-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "late-1").length === 1, 5_000, "payment.processed");
    expect(h.of("payment.failed", "late-1")).toEqual([]);
    expect(await record(h, "late-1")).toMatchObject({ status: "captured", amount: 4200 });
    expect(await inner.ledger.list("charge")).toHaveLength(1);
  });

  it("a charge whose answer was lost while the provider could not be asked is found and refunded when the order is voided", async () => {
    const inner = new SimulatedPaymentProvider({ lateAnswerMs: 60_000 });
    // The provider goes down right after committing the charge: the client can neither get the
    // answer nor ask what happened, so the outcome stays unknown for a while.
    let downOnce = false;
    const flaky: PaymentProvider = {
      charge: async (r, signal) => {
        const call = inner.charge(r, signal);
        if (downOnce) return call;
        downOnce = true;
        await waitFor(async () => (await inner.ledger.get("charge", r.idempotencyKey)) !== undefined);
        // Longer than the client's retrieve tries (200 + 400 + 800 ms after the 100 ms timeout), so
        // none of them can land after the outage and learn the outcome.
        await inner.ledger.setUnavailableUntil(Date.now() + 3_000);
        return call;
      },
      refund: (r, signal) => inner.refund(r, signal),
      retrieve: (kind, key, signal) => inner.retrieve(kind, key, signal),
      voidCharge: (key, signal) => inner.voidCharge(key, signal),
      list: (kind, page) => inner.list(kind, page),
    };
    const h = await launch({ provider: flaky, timeoutMs: 100, breakerFailureThreshold: 100 });
    await h.saga.publish("payment.requested", request("lost-1", "tok_late"));
    await waitFor(async () => (await inner.ledger.get("charge", "lost-1")) !== undefined);
    // The saga gave up on the payment step meanwhile: it compensates.
    await h.saga.publish("order.compensation.payment.refund", refund("lost-1"));
    await waitFor(
      async () => (await inner.ledger.get("refund", "refund:lost-1"))?.amount === 4200,
      15_000,
      "lost charge refunded",
    );
    // The compensation is answered (refunded, or skipped as already done when the redelivered charge
    // request found and reversed the charge first): the saga stops waiting.
    await waitFor(
      () => h.of("payment.refunded", "lost-1").length + h.of("payment.refund.skipped", "lost-1").length > 0,
    );
    // The record notes the refund just after the provider made it: read until it has.
    const settled = await waitFor(async () => {
      const view = await record(h, "lost-1");
      return view.refundedAmount === 4200 ? view : undefined;
    });
    expect(settled).toMatchObject({
      status: "voided",
      refundedAmount: 4200,
      provider: { charged: 4200, refunded: 4200 },
    });
  });

  it("card errors never open the shared breaker: tok_error, tok_error, then tok_ok is charged", async () => {
    const { provider, calls } = countingProvider();
    const h = await launch({ provider, breakerFailureThreshold: 2, breakerOpenMs: 60_000 });
    for (const orderId of ["err-1", "err-2"]) {
      for (const attempt of [1, 2, 3]) {
        await h.saga.publish("payment.requested", request(orderId, "tok_error", attempt));
        await waitFor(() => h.of("payment.failed", orderId).length === attempt);
      }
    }
    await h.saga.publish("payment.requested", request("ok-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "ok-1").length === 1, 5_000, "tok_ok charged");
    expect(h.of("payment.failed", "ok-1")).toEqual([]);
    expect(calls.charged).toBe(1);
    const metrics = await (await fetch(`${h.running.url}/metrics`)).text();
    expect(metrics).toMatch(/circuit_breaker_state\{[^}]*breaker="payment-provider"[^}]*\} 0/);
  });

  it("a charge requested during a provider outage waits (breaker open) and is captured after it, on attempt 1", async () => {
    const inner = new SimulatedPaymentProvider();
    const { provider, calls } = countingProvider(inner);
    const h = await launch({ provider, breakerFailureThreshold: 2, breakerOpenMs: 300 });
    await inner.ledger.setUnavailableUntil(Date.now() + 800);
    await h.saga.publish("payment.requested", request("wait-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "wait-1").length === 1, 10_000, "charged after outage");
    expect(h.of("payment.failed", "wait-1")).toEqual([]);
    expect(calls.charged).toBe(1);
    // The breaker opened during the outage: the request waited instead of hammering the provider.
    expect(calls.charge).toBeLessThan(20);
  });

  it("a step back of the host's clock while the breaker is open changes nothing: the charge is captured after the outage (break22 F2)", async () => {
    const inner = new SimulatedPaymentProvider();
    let offset = 0;
    harness = await start(
      createMemoryPlatform(),
      { mustComplete: { baseDelayMs: 20 }, provider: inner, breakerFailureThreshold: 2, breakerOpenMs: 300 },
      { now: () => Date.now() + offset },
    );
    const h = harness;
    await inner.ledger.setUnavailableUntil(Date.now() + 800);
    await h.saga.publish("payment.requested", request("step-1", "tok_ok"));
    await waitFor(() => h.logs.some((l) => l.includes('"to":"OPEN"')), 5_000, "the breaker open");
    offset = -600_000; // NTP steps the payment host's clock back 10 min
    await waitFor(() => h.of("payment.processed", "step-1").length === 1, 10_000, "charged after the outage");
    expect(h.of("payment.failed", "step-1")).toEqual([]);
    expect(await h.platform.deadLetters.list()).toEqual([]);
  });

  it("a charge retries under the bus's one must-complete window: past it, dead-lettered naming the window", async () => {
    const inner = new SimulatedPaymentProvider();
    const { provider, calls } = countingProvider(inner);
    const h = await launch({
      provider,
      breakerFailureThreshold: 2,
      breakerOpenMs: 200,
      mustComplete: { baseDelayMs: 20, maxDelayMs: 100, windowMs: 1_500 },
    });
    await inner.ledger.setUnavailableUntil(Date.now() + 60_000);
    await h.saga.publish("payment.requested", request("down-1", "tok_ok"));
    const [record] = await waitFor(
      async () => {
        const list = await h.platform.deadLetters.list();
        return list.length > 0 ? list : undefined;
      },
      10_000,
      "the charge dead-lettered once the window is spent",
    );
    expect(record!.reason).toMatch(/^must-complete window of 1500 ms spent after \d+ attempts: /);
    expect(record!.event).toBe("payment.requested");
    // It waited for the breaker between tries (200 ms open) instead of calling every 20 ms.
    expect(calls.charge).toBeLessThan(15);
    expect(h.of("payment.failed", "down-1")).toEqual([]);
  });

  it("a refund that meets a provider outage is retried until it succeeds, not dead-lettered", async () => {
    const inner = new SimulatedPaymentProvider();
    const h = await launch({ provider: inner, breakerFailureThreshold: 3, breakerOpenMs: 200 });
    await h.saga.publish("payment.requested", request("ref-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "ref-1").length === 1);
    await inner.ledger.setUnavailableUntil(Date.now() + 1_500);
    await h.saga.publish("order.compensation.payment.refund", refund("ref-1"));
    await waitFor(() => h.of("payment.refunded", "ref-1").length === 1, 15_000, "refund after outage");
    expect(await record(h, "ref-1")).toMatchObject({ status: "refunded" });
    expect(await h.platform.deadLetters.list()).toEqual([]);
  });

  it("a burst of tok_timeout cards the provider answers for by retrieve never opens the breaker: good orders after it are charged at once", async () => {
    const { provider, calls } = countingProvider();
    // A long open time: if the burst opened the breaker, the good orders would wait a minute.
    const h = await launch({ provider, timeoutMs: 50, breakerFailureThreshold: 5, breakerOpenMs: 60_000 });
    const bad = ["to-1", "to-2", "to-3", "to-4", "to-5", "to-6"];
    for (const orderId of bad) {
      await h.saga.publish("payment.requested", request(orderId, "tok_timeout"));
    }
    for (const orderId of bad) {
      await waitFor(() => h.of("payment.failed", orderId).length === 1, 10_000, `${orderId} timed out`);
      expect(h.of("payment.failed", orderId)[0]).toMatchObject({ code: "timeout", transient: true });
    }
    for (const orderId of ["good-1", "good-2", "good-3"]) {
      await h.saga.publish("payment.requested", request(orderId, "tok_ok"));
    }
    for (const orderId of ["good-1", "good-2", "good-3"]) {
      await waitFor(() => h.of("payment.processed", orderId).length === 1, 5_000, `${orderId} charged`);
    }
    expect(calls.charged).toBe(3);
    const metrics = await (await fetch(`${h.running.url}/metrics`)).text();
    expect(metrics).toMatch(/circuit_breaker_state\{[^}]*breaker="payment-provider"[^}]*\} 0/);
  });

  it("a refund requested while the breaker is open (opened by an outage) completes once it closes", async () => {
    const inner = new SimulatedPaymentProvider();
    const h = await launch({
      provider: inner,
      timeoutMs: 50,
      breakerFailureThreshold: 2,
      breakerOpenMs: 500,
    });
    await h.saga.publish("payment.requested", request("ref-2", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "ref-2").length === 1);
    await inner.ledger.setUnavailableUntil(Date.now() + 700);
    await h.saga.publish("payment.requested", request("to-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "to-1").length === 1, 10_000, "to-1 after the outage");
    await inner.ledger.setUnavailableUntil(Date.now() + 700);
    await h.saga.publish("order.compensation.payment.refund", refund("ref-2"));
    await waitFor(() => h.of("payment.refunded", "ref-2").length === 1, 15_000, "refund after breaker");
    expect(await inner.ledger.list("refund")).toHaveLength(1);
  });
});

describe("payment reconciliation", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  it("lists a failed order still charged, and clears once the refund settles", async () => {
    const inner = new SimulatedPaymentProvider();
    harness = await start(createMemoryPlatform(), { provider: inner });
    const h = harness;
    const reconciliation = async () =>
      (await (await fetch(`${h.running.url}/payments/reconciliation`)).json()) as {
        checked: number;
        mismatches: { orderId: string; reason: string }[];
      };
    await h.saga.publish("payment.requested", request("rec-ok", "tok_ok"));
    await h.saga.publish("payment.requested", request("rec-failed", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "rec-failed").length === 1);
    await waitFor(() => h.of("payment.processed", "rec-ok").length === 1);
    const outcome = (orderId: string) => ({
      orderId,
      userId: "u-1",
      total: 4200,
      currency: "USD",
      durationMs: 1,
    });
    await h.saga.publish("order.completed", outcome("rec-ok"));
    await h.saga.publish("order.failed", {
      orderId: "rec-failed",
      userId: "u-1",
      reason: "shipping: refused",
      stage: "shipping",
      compensated: ["payment.refund"],
    });
    const listed = await waitFor(async () => {
      const r = await reconciliation();
      return r.mismatches.length === 1 ? r : undefined;
    });
    expect(listed.checked).toBe(2);
    expect(listed.mismatches[0]).toMatchObject({
      orderId: "rec-failed",
      reason: expect.stringContaining("failed"),
    });
    await h.saga.publish("order.compensation.payment.refund", refund("rec-failed"));
    await waitFor(async () => (await reconciliation()).mismatches.length === 0, 5_000, "reconciled");
  });

  it("lists a charge the provider holds but the payment record does not know", async () => {
    const inner = new SimulatedPaymentProvider();
    harness = await start(createMemoryPlatform(), { provider: inner });
    await inner.charge({ idempotencyKey: "ghost-1", amount: 999, currency: "USD", token: "tok_ok" });
    // Records first, then the provider's charges no record knows: the ghost is on a later page.
    const mismatches: { orderId: string; provider: unknown }[] = [];
    let cursor: string | undefined;
    do {
      const query = cursor ? `?cursor=${cursor}` : "";
      const response = await fetch(`${harness.running.url}/payments/reconciliation${query}`);
      const body = (await response.json()) as {
        mismatches: { orderId: string; provider: unknown }[];
        nextCursor?: string;
      };
      mismatches.push(...body.mismatches);
      cursor = body.nextCursor;
    } while (cursor);
    expect(mismatches).toEqual([
      expect.objectContaining({ orderId: "ghost-1", provider: { charged: 999, refunded: 0 } }),
    ]);
    const view = await (await fetch(`${harness.running.url}/payments/ghost-1`)).json();
    expect(view).toMatchObject({ status: "none", provider: { charged: 999, refunded: 0 } });
  });
});
