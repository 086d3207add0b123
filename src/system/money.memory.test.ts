/**
 * Money end to end through the gateway (issue 8): a late provider answer, card errors next to good
 * orders, and what `GET /payments/...` shows of it. The embedded system runs the default services.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiClient, createApiClient } from "../demo/client.js";
import type { OrderView } from "../demo/scenarios.js";
import { waitFor } from "../test-support/wait.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

const SETTLED = ["shipped", "delivered", "failed", "cancelled", "compensation_failed"];

describe("money end to end (embedded, memory)", () => {
  let system: EmbeddedSystem;
  let api: ApiClient;
  beforeAll(async () => {
    system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent" });
    api = createApiClient(system.gatewayUrl);
  });
  afterAll(() => system?.stop());

  const setup = async () => {
    const user = await api.post<{ id: string }>("/users", {
      email: `m-${randomUUID()}@example.com`,
      name: "M",
    });
    const productId = `prod-${randomUUID().slice(0, 8)}`;
    await api.post("/inventory", { productId, name: productId, price: 1250, quantity: 50 });
    return { userId: user.body.id, productId };
  };
  const place = async (userId: string, productId: string, token: string) => {
    const res = await api.post<{ orderId: string }>("/orders", {
      userId,
      items: [{ productId, quantity: 2 }],
      payment: { token },
    });
    expect(res.status).toBe(202);
    return res.body.orderId;
  };
  const settled = (orderId: string) =>
    waitFor(
      async () => {
        const res = await api.get<OrderView>(`/orders/${orderId}`);
        return SETTLED.includes(res.body.status) ? res.body : undefined;
      },
      30_000,
      `order ${orderId} settled`,
      50,
    );

  it("tok_late (charged, answered after the timeout) completes, and the payment shows the provider's charge", async () => {
    const { userId, productId } = await setup();
    const orderId = await place(userId, productId, "tok_late");
    expect((await settled(orderId)).status).toMatch(/shipped|delivered/);
    const payment = await api.get<Record<string, unknown>>(`/payments/${orderId}`);
    expect(payment.status).toBe(200);
    expect(payment.body).toMatchObject({
      orderId,
      status: "captured",
      amount: 2500,
      refundedAmount: 0,
      provider: { charged: 2500, refunded: 0 },
    });
    const rec = await api.get<{ mismatches: { orderId: string }[] }>("/payments/reconciliation");
    expect(rec.status).toBe(200);
    expect(rec.body.mismatches.filter((m) => m.orderId === orderId)).toEqual([]);
  }, 40_000);

  it("tok_error, tok_error, then tok_ok: card errors never fail the good order", async () => {
    const { userId, productId } = await setup();
    const bad = [await place(userId, productId, "tok_error"), await place(userId, productId, "tok_error")];
    for (const orderId of bad) expect((await settled(orderId)).status).toBe("failed");
    const good = await place(userId, productId, "tok_ok");
    expect((await settled(good)).status).toMatch(/shipped|delivered/);
    // The last attempt's failure was transient: the saga voids it too (nothing was charged).
    expect((await api.get(`/payments/${bad[0]}`)).body).toMatchObject({
      status: "voided",
      attempts: 3,
      provider: { charged: 0, refunded: 0 },
    });
  }, 40_000);

  it("tok_late_commit (the commit lands after the timeout) ends completed and charged once, never in between", async () => {
    const { userId, productId } = await setup();
    const orderId = await place(userId, productId, "tok_late_commit");
    expect((await settled(orderId)).status).toMatch(/shipped|delivered/);
    const payment = await api.get<Record<string, unknown>>(`/payments/${orderId}`);
    expect(payment.body).toMatchObject({ status: "captured", provider: { charged: 2500, refunded: 0 } });
  }, 40_000);

  it("a burst of tok_timeout orders does not open the provider breaker: good orders placed after it complete", async () => {
    const { userId, productId } = await setup();
    const bad = await Promise.all([1, 2, 3, 4, 5].map(() => place(userId, productId, "tok_timeout")));
    for (const orderId of bad) expect((await settled(orderId)).status).toBe("failed");
    const good = [await place(userId, productId, "tok_ok"), await place(userId, productId, "tok_ok")];
    for (const orderId of good) expect((await settled(orderId)).status).toMatch(/shipped|delivered/);
    // The timed-out orders were voided (the provider confirmed nothing was charged): no money held.
    for (const orderId of bad) {
      const payment = await api.get<Record<string, unknown>>(`/payments/${orderId}`);
      expect(payment.body).toMatchObject({ provider: { charged: 0, refunded: 0 } });
    }
  }, 60_000);
});
