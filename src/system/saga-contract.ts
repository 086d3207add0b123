/**
 * The order saga end to end, through the gateway's HTTP API, on a running system: one suite for the
 * embedded system in memory and on Redis.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ApiClient, createApiClient } from "../demo/client.js";
import type { OrderView, Product } from "../demo/scenarios.js";
import type { Platform } from "../lib/runtime/platform.js";
import { waitFor } from "../test-support/wait.js";
import { gatewayHeaders, serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

const TERMINAL = ["shipped", "delivered", "failed", "cancelled"];

export function runSagaSuite(makePlatform: () => Promise<Platform>): void {
  let system: EmbeddedSystem;
  let api: ApiClient;

  beforeAll(async () => {
    system = await startEmbeddedSystem({
      platform: await makePlatform(),
      gatewayPort: 0,
      logLevel: "silent",
    });
    api = createApiClient(system.gatewayUrl);
  });
  afterAll(() => system?.stop());

  const newUser = async () => {
    const res = await api.post<{ id: string }>("/users", {
      email: `u-${randomUUID()}@example.com`,
      name: "Test User",
    });
    expect(res.status).toBe(201);
    return res.body.id;
  };
  const newProduct = async (stock: number, prefix = "prod") => {
    const productId = `${prefix}-${randomUUID().slice(0, 8)}`;
    const res = await api.post("/inventory", { productId, name: productId, price: 1250, quantity: stock });
    expect(res.status).toBe(201);
    return productId;
  };
  /**
   * Places an order as a careful client does: with an Idempotency-Key, sent again with it after a
   * 503 (shed load, a breaker open while a loaded machine runs 200 at once), at most 5 times.
   */
  const place = async (userId: string, productId: string, token = "tok_ok", quantity = 1) => {
    const key = randomUUID();
    for (let attempt = 1; ; attempt++) {
      const res = await api.post<{ orderId: string }>(
        "/orders",
        { userId, items: [{ productId, quantity }], payment: { token } },
        { "idempotency-key": key },
      );
      if (res.status === 503 && attempt < 5) {
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        continue;
      }
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      return res.body.orderId;
    }
  };
  const settle = (orderId: string, statuses = TERMINAL, intervalMs = 10) =>
    waitFor(
      async () => {
        const res = await api.get<OrderView>(`/orders/${orderId}`);
        return res.status === 200 && statuses.includes(res.body.status) ? res.body : undefined;
      },
      20_000,
      `order ${orderId} in ${statuses.join("/")}`,
      intervalMs,
    );
  const stock = async (productId: string) =>
    (await api.get<Product & { committed: number }>(`/inventory/${productId}`)).body;
  const settledStock = (productId: string, check: (p: Product & { committed: number }) => boolean) =>
    waitFor(
      async () => {
        const p = await stock(productId);
        return check(p) ? p : undefined;
      },
      10_000,
      `stock of ${productId}`,
    );
  /** Straight to the payment service: it has no public route, the test looks behind the gateway. */
  const payment = async (orderId: string) => {
    const url = system.services.find((svc) => svc.name === "payment")!.url;
    const target = `${url}/payments/${orderId}`;
    // Signed as the gateway signs for payment: with payment's secret derived from the master.
    const secret = serviceCredentialSecret(system.sharedSecret, "payment");
    const res = await fetch(target, { headers: gatewayHeaders(secret, "GET", target) });
    return res.status === 200 ? ((await res.json()) as { status: string }) : undefined;
  };
  const history = async (orderId: string) =>
    (
      await api.get<{ events: { type: string; data: Record<string, unknown> }[] }>(
        `/orders/${orderId}/events`,
      )
    ).body.events;

  it("happy path: completes, commits stock, prices from the catalog and notifies once", async () => {
    const userId = await newUser();
    const productId = await newProduct(10);
    const orderId = await place(userId, productId, "tok_ok", 2);
    const order = await settle(orderId, ["shipped", "delivered"]);
    expect(order.total).toBe(2500);
    const listed = await waitFor(
      async () => {
        const res = await api.get<{ orders: { id: string }[] }>(`/orders?userId=${userId}`);
        return res.body.orders?.length ? res.body.orders : undefined;
      },
      5_000,
      "order listed",
    );
    expect(listed.map((o) => o.id)).toEqual([orderId]);
    expect(order.items).toEqual([{ productId, quantity: 2, unitPrice: 1250 }]);
    const p = await settledStock(productId, (s) => s.committed === 2);
    expect(p).toMatchObject({ available: 8, reserved: 0, committed: 2 });
    const notes = await waitFor(
      async () => {
        const res = await api.get<{ notifications: { template: string; channel: string }[] }>(
          `/notifications?orderId=${orderId}`,
        );
        return res.body.notifications?.length ? res.body.notifications : undefined;
      },
      10_000,
      "notification",
    );
    const confirmations = notes.filter((n) => n.template.includes("confirm"));
    expect(new Set(confirmations.map((n) => n.channel)).size).toBe(confirmations.length);
  });

  it("out of stock: the order fails, nothing is charged, stock is unchanged", async () => {
    const userId = await newUser();
    const productId = await newProduct(1);
    const orderId = await place(userId, productId, "tok_ok", 5);
    expect((await settle(orderId)).status).toBe("failed");
    expect(await stock(productId)).toMatchObject({ available: 1, reserved: 0 });
    expect((await history(orderId)).some((e) => e.data.to === "paid")).toBe(false);
    expect(await payment(orderId)).toBeUndefined();
  });

  it("payment declined: the reservation is released and the order fails", async () => {
    const userId = await newUser();
    const productId = await newProduct(5);
    const orderId = await place(userId, productId, "tok_decline", 2);
    expect((await settle(orderId)).status).toBe("failed");
    await settledStock(productId, (s) => s.available === 5 && s.reserved === 0);
  });

  it("shipment refused by the carrier: payment refunded and stock released", async () => {
    const userId = await newUser();
    const productId = await newProduct(5, "noship");
    const orderId = await place(userId, productId, "tok_ok", 1);
    expect((await settle(orderId)).status).toBe("failed");
    await settledStock(productId, (s) => s.available === 5 && s.reserved === 0 && s.committed === 0);
    const events = await history(orderId);
    expect(events.some((e) => e.data.to === "paid")).toBe(true);
    await waitFor(async () => (await payment(orderId))?.status === "refunded", 10_000, "refund");
  });

  it("cancel while paid compensates every step; cancelling a completed order is refused", async () => {
    const userId = await newUser();
    const slow = await newProduct(5, "slowship");
    const orderId = await place(userId, slow);
    await settle(orderId, ["paid"]);
    expect((await api.post(`/orders/${orderId}/cancel`)).status).toBe(202);
    expect((await settle(orderId)).status).toBe("cancelled");
    await settledStock(slow, (s) => s.available === 5 && s.reserved === 0);
    await waitFor(async () => (await payment(orderId))?.status === "refunded", 10_000, "refund");
    expect((await api.post(`/orders/${orderId}/cancel`)).status).toBe(409);

    const productId = await newProduct(5);
    const done = await place(userId, productId);
    await settle(done, ["shipped", "delivered"]);
    expect((await api.post(`/orders/${done}/cancel`)).status).toBe(409);
  });

  it("cancel right after placing: whatever had been done is undone", async () => {
    const userId = await newUser();
    const productId = await newProduct(5);
    const orderId = await place(userId, productId);
    const cancel = await api.post(`/orders/${orderId}/cancel`);
    const order = await settle(orderId);
    if (cancel.status === 202) {
      expect(order.status).toBe("cancelled");
      await settledStock(productId, (s) => s.available === 5 && s.reserved === 0);
    } else {
      expect(cancel.status).toBe(409); // the saga was faster: it had already shipped
      expect(["shipped", "delivered"]).toContain(order.status);
    }
  });

  it("200 concurrent orders for a product with stock 50: exactly 50 complete and stock ends at 0", async () => {
    const userId = await newUser();
    const productId = await newProduct(50);
    const orderIds = await Promise.all(Array.from({ length: 200 }, () => place(userId, productId)));
    // Polled gently: 200 pollers every 10 ms would be a load test of GET /orders, not of the saga.
    const orders = await Promise.all(orderIds.map((id) => settle(id, TERMINAL, 250)));
    const completed = orders.filter((o) => o.status === "shipped" || o.status === "delivered");
    const reasons = new Map<string, number>();
    for (const o of orders.filter((x) => x.status === "failed")) {
      const change = (await history(o.id)).find((e) => e.data.to === "failed");
      const reason = String(change?.data.reason ?? "?").replace(/[0-9a-f-]{36}/g, "<id>");
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    expect(completed, `failure reasons: ${JSON.stringify([...reasons])}`).toHaveLength(50);
    expect(orders.filter((o) => o.status === "failed")).toHaveLength(150);
    const p = await settledStock(productId, (s) => s.committed === 50);
    expect(p).toMatchObject({ available: 0, reserved: 0, committed: 50 });
  }, 60_000);
}
