/**
 * Operators' money routes (`GET /payments/:orderId`, `GET /payments/reconciliation`) ask the
 * provider through the service's provider client: under its time budget and behind its breaker,
 * and a reconciliation page reads its rows a bounded number at a time, not one after the other.
 */
import { afterEach, describe, expect, it } from "vitest";
import { createMemoryPlatform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { type PaymentProvider, SimulatedPaymentProvider } from "./provider.js";
import type { PaymentServiceOptions } from "./service.js";
import { type Harness, refund, request, start } from "./test-harness.js";
import { RECONCILIATION_READ_CONCURRENCY } from "./routes.js";

/** The simulated provider whose dashboard reads (retrieve, list) can be slowed, hung and counted. */
function dashboardProvider(inner = new SimulatedPaymentProvider()) {
  const reads = { calls: 0, now: 0, max: 0 };
  const mode = { hang: false, delayMs: 0 };
  const read = async <T>(work: () => Promise<T>): Promise<T> => {
    reads.calls++;
    reads.now++;
    reads.max = Math.max(reads.max, reads.now);
    try {
      // A provider that never answers ignores the caller's signal: only the caller can stop waiting.
      if (mode.hang) await new Promise(() => undefined);
      if (mode.delayMs > 0) await new Promise((r) => setTimeout(r, mode.delayMs));
      return await work();
    } finally {
      reads.now--;
    }
  };
  const provider: PaymentProvider = {
    charge: (r, signal) => inner.charge(r, signal),
    refund: (r, signal) => inner.refund(r, signal),
    retrieve: (kind, key, signal) => read(() => inner.retrieve(kind, key, signal)),
    voidCharge: (key, signal) => inner.voidCharge(key, signal),
    list: (kind, page) => read(() => inner.list(kind, page)),
  };
  return { provider, inner, reads, mode };
}

describe("payment operator routes go through the provider client", () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  const launch = async (options: PaymentServiceOptions) => {
    harness = await start(createMemoryPlatform(), { mustComplete: { baseDelayMs: 20 }, ...options });
    return harness;
  };
  const get = async (h: Harness, path: string) => {
    const response = await fetch(`${h.running.url}${path}`, { signal: AbortSignal.timeout(20_000) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it("answers within the client's time budget when the provider does not answer a read", async () => {
    const p = dashboardProvider();
    const h = await launch({ provider: p.provider, timeoutMs: 300 });
    await h.saga.publish("payment.requested", request("hang-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "hang-1").length === 1, 10_000, "charged");
    p.mode.hang = true;
    const known = await get(h, "/payments/hang-1");
    expect(known.status).toBe(200);
    expect(known.body).toMatchObject({
      status: "captured",
      provider: { charged: null, refunded: null, unknown: expect.stringMatching(/time/i) },
    });
    const unknownOrder = await get(h, "/payments/nobody-1");
    expect(unknownOrder.status).toBe(503);
    expect(unknownOrder.body).toMatchObject({ error: { code: "PAYMENT_PROVIDER_UNAVAILABLE" } });
    const page = await get(h, "/payments/reconciliation");
    expect(page.status).toBe(503);
    expect(page.body).toMatchObject({ error: { code: "PAYMENT_PROVIDER_UNAVAILABLE" } });
  });

  it("does not call a provider whose breaker is open: reads answer unknown at once", async () => {
    const p = dashboardProvider();
    const h = await launch({ provider: p.provider, breakerFailureThreshold: 2, breakerOpenMs: 600_000 });
    await h.saga.publish("payment.requested", request("open-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "open-1").length === 1, 10_000, "charged");
    await p.inner.ledger.setUnavailableUntil(Date.now() + 600_000);
    // Two charges meet the outage: the provider's own failures open the breaker.
    await h.saga.publish("payment.requested", request("open-2", "tok_ok"));
    await h.saga.publish("payment.requested", request("open-3", "tok_ok"));
    // Reads are not counted by the breaker, so polling the view until it says "circuit" is safe.
    await waitFor(
      async () => {
        const view = await get(h, "/payments/open-1");
        return /circuit/i.test(JSON.stringify(view.body)) || undefined;
      },
      15_000,
      "breaker open",
    );
    const before = p.reads.calls;
    for (let i = 0; i < 5; i++) {
      const view = await get(h, "/payments/open-1");
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({
        status: "captured",
        provider: { charged: null, unknown: expect.stringMatching(/circuit/i) },
      });
    }
    expect((await get(h, "/payments/reconciliation")).status).toBe(503);
    expect(p.reads.calls - before).toBe(0);
  });

  it("reads that time out never open the breaker the customers' charges go through", async () => {
    const p = dashboardProvider();
    const h = await launch({
      provider: p.provider,
      timeoutMs: 200,
      breakerFailureThreshold: 2,
      breakerOpenMs: 600_000,
    });
    await h.saga.publish("payment.requested", request("read-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "read-1").length === 1, 10_000, "charged");
    p.mode.hang = true;
    for (let i = 0; i < 4; i++) {
      expect((await get(h, "/payments/read-1")).body).toMatchObject({ provider: { charged: null } });
    }
    p.mode.hang = false;
    // The provider is fine: the next customer's charge goes through at once (no open circuit).
    await h.saga.publish("payment.requested", request("read-2", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "read-2").length === 1, 10_000, "next charge");
    expect((await get(h, "/payments/read-2")).body).toMatchObject({ provider: { charged: 4200 } });
  });

  // break34 F1: one order's refund still being processed at the provider (`request_in_progress`)
  // failed the whole page with the 503 "the provider cannot be asked", while the provider answered.
  it("lists an order whose provider call is in progress as one row to re-check, and answers the rest of the page (break34 F1)", async () => {
    const p = dashboardProvider();
    const h = await launch({ provider: p.provider });
    const orders = ["busy-0", "busy-1", "busy-2"];
    for (const orderId of orders) await h.saga.publish("payment.requested", request(orderId, "tok_ok"));
    await waitFor(
      () => orders.every((o) => h.of("payment.processed", o).length === 1),
      20_000,
      "all charged",
    );
    // A refund of busy-1 the provider is processing (a payment instance died mid-call: its lease stays).
    expect(await p.inner.ledger.beginCall("refund", "refund:busy-1", 600_000)).toBe(true);
    // And a cancel of busy-v while its charge is being processed: the record is the `voided`
    // tombstone, the void at the provider waits for the charge call to end (break34's repro).
    expect(await p.inner.ledger.beginCall("charge", "busy-v", 600_000)).toBe(true);
    await h.saga.publish("order.compensation.payment.refund", refund("busy-v"));
    await waitFor(
      async () => (await get(h, "/payments/busy-v")).body.status === "voided",
      20_000,
      "busy-v voided",
    );
    const page = await get(h, "/payments/reconciliation");
    expect(page.status).toBe(200);
    const inProgress = (orderId: string, status: string, call: RegExp) => ({
      orderId,
      kind: "in_progress",
      reason: expect.stringMatching(/in progress at the provider.*re-check later/),
      status,
      provider: { charged: null, refunded: null, unknown: expect.stringMatching(call) },
    });
    const rows = page.body as { checked: number; mismatches: { orderId: string }[] };
    expect(rows.checked).toBe(4);
    expect([...rows.mismatches].sort((a, b) => a.orderId.localeCompare(b.orderId))).toMatchObject([
      inProgress("busy-1", "captured", /refund/),
      inProgress("busy-v", "voided", /charge/),
    ]);
    // The order's own view says the same: the provider is up, the call is just not decided.
    expect((await get(h, "/payments/busy-1")).body).toMatchObject({
      provider: { charged: null, unknown: expect.stringMatching(/in progress/) },
    });
    await p.inner.ledger.endCall("refund", "refund:busy-1");
    await p.inner.ledger.endCall("charge", "busy-v");
    // The void goes through once the charge call ended (redelivered): nothing left to list.
    await waitFor(
      async () => {
        const { mismatches } = (await get(h, "/payments/reconciliation")).body;
        return Array.isArray(mismatches) && mismatches.length === 0;
      },
      20_000,
      "reconciliation clear",
    );
    expect((await get(h, "/payments/reconciliation")).body).toMatchObject({ checked: 4, mismatches: [] });
  });

  it("reads a reconciliation page's rows concurrently, at most the bound at once", async () => {
    const p = dashboardProvider();
    const h = await launch({ provider: p.provider });
    const orders = Array.from({ length: 40 }, (_, i) => `rec-${i}`);
    for (const orderId of orders) await h.saga.publish("payment.requested", request(orderId, "tok_ok"));
    await waitFor(
      () => orders.every((o) => h.of("payment.processed", o).length === 1),
      30_000,
      "all charged",
    );
    p.mode.delayMs = 40;
    p.reads.max = 0;
    const page = await get(h, "/payments/reconciliation?limit=40");
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ checked: 40, mismatches: [] });
    // Each row reads its charge and its refund at once: serial rows never exceed 2.
    expect(p.reads.max).toBeGreaterThan(2);
    expect(p.reads.max).toBeLessThanOrEqual(2 * RECONCILIATION_READ_CONCURRENCY);
  });
});
