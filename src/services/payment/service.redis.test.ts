/**
 * The payment service over real Redis, against the money-break review of issue 8: a charge that
 * lands after the client's timeout (F8), a provider ledger that forgets (F2), the money views during
 * an outage (F4) and a reconciliation that must stay bounded (F9).
 */
import { afterEach, expect, it } from "vitest";
import { createRedisPlatform } from "../../lib/runtime/platform.js";
import { describeWithRedis } from "../../test-support/redis.js";
import { waitFor } from "../../test-support/wait.js";
import { orderOutcomeKey, providerEntryKey, providerIdKey } from "./keys.js";
import { SimulatedPaymentProvider } from "./provider.js";
import { RedisProviderLedger } from "./provider-redis-ledger.js";
import { RedisPaymentStore } from "./redis-store.js";
import { type Harness, refund, request, start } from "./test-harness.js";

describeWithRedis("payment service (Redis platform) under the money-break faults", (getRedis) => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });
  const launch = async (provider: SimulatedPaymentProvider, timeoutMs = 2_000) => {
    await getRedis().flush();
    harness = await start(createRedisPlatform({ url: getRedis().url }), {
      provider,
      timeoutMs,
      mustComplete: { baseDelayMs: 20, maxDelayMs: 500 },
    });
    return harness;
  };
  const simulated = (options: { lateCommitMs?: number } = {}) =>
    new SimulatedPaymentProvider({ ledger: new RedisProviderLedger(getRedis().client()), ...options });
  const get = async (h: Harness, path: string) => {
    const response = await fetch(`${h.running.url}${path}`);
    return { status: response.status, headers: response.headers, body: (await response.json()) as never };
  };

  it("a charge the provider commits after the client's timeout, on the last attempt, is refunded once the order fails (F8)", async () => {
    const provider = simulated({ lateCommitMs: 2_500 });
    const h = await launch(provider, 200);
    // The saga's last attempt reaches the provider, which is slow to commit it.
    await h.saga.publish("payment.requested", { ...request("late-c1", "tok_late_commit"), attempt: 3 });
    await waitFor(() => provider.ledger.inFlight("charge", "late-c1"), 5_000, "charge in flight");
    // The saga gives up on the payment step meanwhile and compensates.
    await h.saga.publish("order.compensation.payment.refund", refund("late-c1"));
    await waitFor(
      async () => (await provider.ledger.get("refund", "refund:late-c1"))?.amount === 4200,
      20_000,
      "the late charge refunded",
    );
    expect((await provider.ledger.get("charge", "late-c1"))?.amount).toBe(4200);
    // Answered (refunded, or "already done" when the redelivered charge request found and reversed
    // the charge first), so the saga stops waiting; never "nothing to undo" for a charge that was
    // still on its way, and never a failure of the attempt.
    await waitFor(
      () => h.of("payment.refunded", "late-c1").length + h.of("payment.refund.skipped", "late-c1").length > 0,
      10_000,
      "refund answered",
    );
    for (const skipped of h.of("payment.refund.skipped", "late-c1")) {
      expect(skipped).toMatchObject({ outcome: "already_done" });
    }
    expect(h.of("payment.failed", "late-c1")).toEqual([]);
    // The view asks the provider with the same 200 ms client timeout; on a loaded machine that peek
    // can time out, and the view then rightly says the provider part is unknown (F4, `charged: null`
    // with `unknown`): ask again until the provider answered.
    const view = await waitFor(
      async () => {
        const answer = await get(h, "/payments/late-c1");
        const provider = (answer.body as { provider?: { charged: number | null } }).provider;
        return typeof provider?.charged === "number" ? answer : undefined;
      },
      10_000,
      "the view with the provider's part",
    );
    expect(view.body).toMatchObject({
      status: "voided",
      attempts: 1,
      refundedAmount: 4200,
      provider: { charged: 4200, refunded: 4200 },
    });
  });

  it("keeps the provider's ledger as long as the payment record, so a late manual refund finds its charge (F2)", async () => {
    const provider = simulated();
    const h = await launch(provider);
    await h.saga.publish("payment.requested", request("kept-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "kept-1").length === 1);
    const redis = getRedis().client();
    const entry = await provider.ledger.get("charge", "kept-1");
    expect(await redis.pttl(providerEntryKey("charge", "kept-1"))).toBe(-1);
    expect(await redis.pttl(providerIdKey(entry?.id ?? "?"))).toBe(-1);
    // Whenever the operator resolves it, the refund finds the charge.
    await h.saga.publish("order.compensation.payment.refund", refund("kept-1"));
    await waitFor(() => h.of("payment.refunded", "kept-1").length === 1, 10_000, "refunded");
    expect(await h.platform.deadLetters.list()).toEqual([]);
  });

  it("shows the record with the provider part unknown during an outage, and the reconciliation answers 503 with Retry-After (F4)", async () => {
    const provider = simulated();
    const h = await launch(provider);
    await h.saga.publish("payment.requested", request("down-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "down-1").length === 1);
    await provider.ledger.setUnavailableUntil(Date.now() + 60_000);
    const view = await get(h, "/payments/down-1");
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({
      orderId: "down-1",
      status: "captured",
      amount: 4200,
      provider: { charged: null, refunded: null, unknown: expect.stringContaining("outage") },
    });
    const reconciliation = await get(h, "/payments/reconciliation");
    expect(reconciliation.status).toBe(503);
    expect(reconciliation.body).toMatchObject({ error: { code: "PAYMENT_PROVIDER_UNAVAILABLE" } });
    expect(reconciliation.headers.get("retry-after")).toMatch(/^\d+$/);
    // An order we hold no record of: only the provider could tell, so 503 rather than a false 404.
    expect((await get(h, "/payments/never-seen")).status).toBe(503);
  });

  it("reconciles a zero-total order, completed or cancelled, as agreeing: a charge of 0 is a charge (break13 F7)", async () => {
    const provider = simulated();
    const h = await launch(provider);
    const store = new RedisPaymentStore(getRedis().client());
    // A product of price 0 makes a zero-total order: the saga asks for a charge of 0 like any other.
    await h.saga.publish("payment.requested", { ...request("zero-done", "tok_ok"), amount: 0 });
    await h.saga.publish("payment.requested", { ...request("zero-cancel", "tok_ok"), amount: 0 });
    await waitFor(() => h.of("payment.processed", "zero-done").length === 1, 10_000, "zero-done charged");
    await waitFor(() => h.of("payment.processed", "zero-cancel").length === 1, 10_000, "zero-cancel charged");
    await h.saga.publish("order.compensation.payment.refund", refund("zero-cancel"));
    await waitFor(() => h.of("payment.refunded", "zero-cancel").length === 1, 10_000, "zero-cancel refunded");
    const completed = { orderId: "zero-done", userId: "u-1", total: 0, currency: "USD", durationMs: 5 };
    await h.saga.publish("order.completed", completed);
    await h.saga.publish("order.cancelled", {
      orderId: "zero-cancel",
      userId: "u-1",
      reason: "customer request",
      compensated: [],
    });
    await waitFor(async () => (await store.outcome("zero-done")) === "completed", 10_000, "outcome");
    await waitFor(async () => (await store.outcome("zero-cancel")) === "cancelled", 10_000, "outcome");

    expect((await get(h, "/payments/zero-done")).body).toMatchObject({
      status: "captured",
      amount: 0,
      provider: { charged: 0, refunded: 0 },
    });
    expect((await get(h, "/payments/zero-cancel")).body).toMatchObject({ status: "refunded", amount: 0 });
    const page = await get(h, "/payments/reconciliation");
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ checked: 2, mismatches: [] });
  });

  // break34 F2: a compensation_failed order still holding its charge left the reconciliation once
  // `{payment}:outcome:<orderId>` expired (MARKER_TTL_MS): money owed must stay listed, whatever its age.
  it("keeps listing a compensation_failed order that holds its charge, its outcome kept and, one gone, its record judged alone (break34 F2)", async () => {
    const provider = simulated();
    const h = await launch(provider);
    const redis = getRedis().client();
    const store = new RedisPaymentStore(redis);
    await h.saga.publish("payment.requested", request("owed-1", "tok_ok"));
    await waitFor(() => h.of("payment.processed", "owed-1").length === 1, 10_000, "charged");
    // The refund was asked for and never settled (dead-lettered after the provider's outage), and the
    // saga's window closed: the record stays `refunding`, the provider holds the charge.
    const captured = await store.get("owed-1");
    if (!captured) throw new Error("no record");
    expect(
      await store.commit({ ...captured, status: "refunding", reason: "saga gave up" }, "captured", []),
    ).toBe(true);
    await h.saga.publish("order.compensation.failed", {
      orderId: "owed-1",
      userId: "u-1",
      pending: ["payment.refund"],
      reason: "compensation window closed",
    });
    await waitFor(async () => (await store.outcome("owed-1")) === "compensation_failed", 10_000, "outcome");
    const listed = async () => {
      const page = await get(h, "/payments/reconciliation");
      expect(page.status).toBe(200);
      return (page.body as { mismatches: { orderId: string; reason: string }[] }).mismatches;
    };
    expect(await listed()).toMatchObject([
      { orderId: "owed-1", reason: "order compensation_failed: needs an operator" },
    ]);
    // Kept as long as the record: nothing makes it expire.
    expect(await redis.pttl(orderOutcomeKey("owed-1"))).toBe(-1);
    // An outcome an earlier release let expire (its 7-day TTL): the record is judged by itself.
    await redis.del(orderOutcomeKey("owed-1"));
    expect(await listed()).toMatchObject([
      {
        orderId: "owed-1",
        status: "refunding",
        outcome: null,
        amount: 4200,
        provider: { charged: 4200, refunded: 0 },
        reason: "payment refunding, no order outcome known: the provider still holds 4200",
      },
    ]);
  });

  it("reconciles a page at a time (limit, nextCursor), finding every mismatch across the pages (F9)", async () => {
    const provider = simulated();
    const h = await launch(provider);
    const store = new RedisPaymentStore(getRedis().client());
    const at = new Date().toISOString();
    const N = 240;
    for (let i = 0; i < N; i++) {
      const orderId = `bulk-${i}`;
      const charge = await provider.charge({
        idempotencyKey: orderId,
        amount: 100,
        currency: "USD",
        token: "tok_ok",
      });
      await store.commit(
        {
          orderId,
          status: "captured",
          paymentId: `pay-${i}`,
          amount: 100,
          currency: "USD",
          providerChargeId: charge.chargeId,
          createdAt: at,
          updatedAt: at,
        },
        null,
        [],
      );
    }
    // Two disagreements: a failed order still charged, and a charge no record knows.
    await store.recordOutcome("bulk-7", "failed");
    await provider.charge({ idempotencyKey: "ghost-9", amount: 55, currency: "USD", token: "tok_ok" });

    const seen = new Set<string>();
    const mismatches: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await get(h, `/payments/reconciliation?limit=50${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.status).toBe(200);
      const body = page.body as { checked: number; mismatches: { orderId: string }[]; nextCursor?: string };
      // Bounded: SSCAN's COUNT is a hint, a page stays in the order of the limit.
      expect(body.checked).toBeLessThanOrEqual(100);
      for (const m of body.mismatches) mismatches.push(m.orderId);
      seen.add(String(pages));
      cursor = body.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 100);
    expect(cursor).toBeUndefined();
    expect(pages).toBeGreaterThan(3);
    expect(mismatches.sort()).toEqual(["bulk-7", "ghost-9"]);
    const bad = await get(h, "/payments/reconciliation?cursor=zzz");
    expect(bad.status).toBe(400);
  });
});
