import { afterEach, describe, expect, it } from "vitest";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { sleep, waitFor } from "../../test-support/wait.js";
import type { OrderServiceOptions } from "./service.js";
import { type OrderHarness, orderBody, startOrderService } from "./test-harness.js";
import type { ResponderBehaviour } from "./test-responders.js";

let platform: Platform | undefined;
let harness: OrderHarness | undefined;

async function start(behaviour: Partial<ResponderBehaviour> = {}, options: OrderServiceOptions = {}) {
  platform = createMemoryPlatform();
  harness = await startOrderService(platform, options, behaviour);
  return harness;
}

afterEach(async () => {
  await harness?.stop();
  await platform?.close();
  harness = undefined;
  platform = undefined;
});

const names = (h: OrderHarness, orderId: string) => h.sim.about(orderId).map((s) => s.event);
const terminal = (h: OrderHarness, orderId: string, event: string) =>
  waitFor(() => h.sim.about(orderId, event)[0], 5_000, `${event} of ${orderId}`);

describe("order service: saga over the bus", () => {
  it("takes an order through reservation, payment and shipment to delivery", async () => {
    const h = await start();
    const orderId = await h.place();
    const completed = await terminal(h, orderId, "order.completed");
    expect(completed.payload).toMatchObject({ userId: "u-1", total: 3000, currency: "USD" });
    const view = await h.waitForStatus(orderId, "delivered");
    expect(view).toMatchObject({
      id: orderId,
      total: 3000,
      items: [
        { productId: "sku-1", quantity: 2, unitPrice: 1250 },
        { productId: "sku-2", quantity: 1, unitPrice: 500 },
      ],
    });
    await terminal(h, orderId, "order.delivered");
    for (const command of [
      "user.validation.requested",
      "inventory.reservation.requested",
      "payment.requested",
      "shipping.shipment.requested",
      "inventory.commit.requested",
    ]) {
      expect(h.sim.about(orderId, command)).toHaveLength(1);
    }
    expect(h.sim.about(orderId).filter((s) => s.event.startsWith("order.compensation"))).toEqual([]);
  });

  it("fails an order of an invalid user without compensations", async () => {
    const h = await start({ user: "invalid" });
    const orderId = await h.place();
    expect((await terminal(h, orderId, "order.failed")).payload).toMatchObject({
      stage: "validation",
      compensated: [],
    });
    await h.waitForStatus(orderId, "failed");
  });

  it("fails an out-of-stock order without releasing anything", async () => {
    const h = await start({ inventory: "out_of_stock" });
    const orderId = await h.place();
    expect((await terminal(h, orderId, "order.failed")).payload).toMatchObject({
      stage: "inventory",
      compensated: [],
    });
    expect(h.sim.about(orderId, "order.compensation.inventory.release")).toEqual([]);
  });

  it("releases the stock of a declined payment", async () => {
    const h = await start({ payment: "declined" });
    const orderId = await h.place();
    const failed = await terminal(h, orderId, "order.failed");
    expect(failed.payload).toMatchObject({ stage: "payment", compensated: ["inventory.release"] });
    expect(h.sim.about(orderId, "order.compensation.inventory.release")).toHaveLength(1);
  });

  it("retries transient payment failures and completes when an attempt succeeds", async () => {
    const h = await start({ payment: "transient:1", deliver: false });
    const orderId = await h.place();
    await terminal(h, orderId, "order.completed");
    expect(h.sim.about(orderId, "payment.requested").map((s) => s.payload.attempt)).toEqual([1, 2]);
  });

  it("fails after three transient payment failures and releases the stock", async () => {
    const h = await start({ payment: "transient:5" });
    const orderId = await h.place();
    expect((await terminal(h, orderId, "order.failed")).payload).toMatchObject({ stage: "payment" });
    expect(h.sim.about(orderId, "payment.requested")).toHaveLength(3);
    expect(h.sim.about(orderId, "order.compensation.inventory.release")).toHaveLength(1);
  });

  it("refunds, then releases, when the shipment fails", async () => {
    const h = await start({ shipping: "fail" });
    const orderId = await h.place();
    const failed = await terminal(h, orderId, "order.failed");
    expect(failed.payload).toMatchObject({
      stage: "shipping",
      compensated: ["payment.refund", "inventory.release"],
    });
    const compensations = names(h, orderId).filter((n) => n.startsWith("order.compensation"));
    expect(compensations.sort()).toEqual([
      "order.compensation.inventory.release",
      "order.compensation.payment.refund",
    ]);
  });

  it("fails a saga whose step misses its deadline, with compensation", async () => {
    const h = await start({ inventory: "silent" }, { stepTimeoutMs: 300 });
    const orderId = await h.place();
    const failed = await terminal(h, orderId, "order.failed");
    expect(failed.payload).toMatchObject({ stage: "timeout", compensated: ["inventory.release"] });
    await h.waitForStatus(orderId, "failed");
  });

  it("ends in the same state with each command once when every reply is delivered twice", async () => {
    const h = await start({ duplicate: true });
    const orderId = await h.place();
    await h.waitForStatus(orderId, "delivered");
    await sleep(200);
    const counts = new Map<string, number>();
    for (const name of names(h, orderId)) counts.set(name, (counts.get(name) ?? 0) + 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.get("order.completed")).toBe(1);
    expect(counts.get("order.delivered")).toBe(1);
  });
});

describe("order service: cancel", () => {
  it("cancels a reserved order, refunding the in-flight payment and releasing the stock", async () => {
    const h = await start({ payment: "silent" });
    const orderId = await h.place();
    await h.waitForStatus(orderId, "reserved");
    const cancel = await h.request("POST", `/orders/${orderId}/cancel`);
    expect(cancel).toEqual({ status: 202, body: { orderId, status: "cancelled" } });
    const cancelled = await terminal(h, orderId, "order.cancelled");
    expect(cancelled.payload).toMatchObject({
      reason: "cancelled by user",
      compensated: ["payment.refund", "inventory.release"],
    });
    const again = await h.request<{ error: { code: string } }>("POST", `/orders/${orderId}/cancel`);
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe("ORDER_NOT_CANCELLABLE");
  });

  it("refuses to cancel a shipped order, and answers 404 for an unknown one", async () => {
    const h = await start({ deliver: false });
    const orderId = await h.place();
    await h.waitForStatus(orderId, "shipped");
    expect((await h.request("POST", `/orders/${orderId}/cancel`)).status).toBe(409);
    expect((await h.request("POST", "/orders/nope/cancel")).status).toBe(404);
  });
});

describe("order service: HTTP", () => {
  // break42 F4: these two reads took no query and ignored any, so `?asOf=2020-01-01` answered the
  // present with 200. They refuse every query parameter, as the list route refuses unknown ones.
  it("refuses any query parameter on GET /orders/:id and /orders/:id/events with 400 naming it", async () => {
    const h = await start({ deliver: false });
    const orderId = await h.place();
    await h.waitForStatus(orderId, "shipped");
    type ErrorBody = { error: { code: string; message: string; details: unknown } };
    const cases: [string, string[]][] = [
      [`/orders/${orderId}/events?asOf=2020-01-01`, ["query:asOf"]],
      [`/orders/${orderId}/events?version=-1`, ["query:version"]],
      [
        `/orders/${orderId}/events?fromVersion=99999999999999999999&toVersion=1`,
        ["query:fromVersion", "query:toVersion"],
      ],
      [`/orders/${orderId}?version=1`, ["query:version"]],
      [`/orders/${orderId}?asOf=`, ["query:asOf"]],
      // Checked before the lookup: an unknown order with a query is 400 too, not 404.
      ["/orders/nope/events?asOf=2020-01-01", ["query:asOf"]],
    ];
    const list = await h.request<ErrorBody>("GET", "/orders?user_id=u-1");
    for (const [path, params] of cases) {
      const res = await h.request<ErrorBody>("GET", path);
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({
        path,
        status: 400,
        code: "VALIDATION_FAILED",
      });
      // The list route's shape: one issue per parameter, `query:<name>`, same message form.
      expect(res.body.error.message).toBe(list.body.error.message);
      expect(res.body.error.details).toEqual(
        params.map((name) => ({ path: name, message: `unknown query parameter "${name.slice(6)}"` })),
      );
    }
    expect((await h.request("GET", `/orders/${orderId}`)).status).toBe(200);
    expect((await h.request("GET", `/orders/${orderId}/events`)).status).toBe(200);
    expect((await h.request("GET", "/orders/nope/events")).status).toBe(404);
  });

  it("rejects an invalid body with 400 and the issues", async () => {
    const h = await start();
    const result = await h.request<{ error: { code: string } }>("POST", "/orders", orderBody({ items: [] }));
    expect(result.status).toBe(400);
    expect(result.body.error.code).toBe("VALIDATION_FAILED");
  });

  it("answers a retry with the same Idempotency-Key and body with the first order", async () => {
    const h = await start({ user: "silent" });
    const headers = { "idempotency-key": "key-1" };
    const first = await h.place(orderBody(), headers);
    const second = await h.place(orderBody(), headers);
    expect(second).toBe(first);
    await sleep(100);
    expect(h.sim.about(first, "order.placed")).toHaveLength(1);
  });

  it("rejects an Idempotency-Key reused with a different body with 422", async () => {
    const h = await start({ user: "silent" });
    await h.place(orderBody(), { "idempotency-key": "key-2" });
    const reuse = await h.request<{ error: { code: string; details: unknown } }>(
      "POST",
      "/orders",
      orderBody({ userId: "u-2" }),
      { "idempotency-key": "key-2" },
    );
    expect(reuse.status).toBe(422);
    expect(reuse.body.error.code).toBe("IDEMPOTENCY_KEY_REUSED");
    // The documented details shape, as for every 4xx: [{ path, message }].
    expect(reuse.body.error.details).toEqual([
      { path: "header:Idempotency-Key", message: expect.stringContaining("different body") as unknown },
    ]);
  });

  // newuser15 F3: an instance, too, names the body's fields and the malformed key in one answer.
  it("names the bad body fields and a malformed Idempotency-Key in one 400", async () => {
    const h = await start({ user: "silent" });
    const res = await h.request<{ error: { code: string; details: { path: string }[] } }>(
      "POST",
      "/orders",
      { ...orderBody(), userId: undefined },
      { "idempotency-key": "a b" },
    );
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("VALIDATION_FAILED");
    expect(res.body.error.details.map((d) => d.path)).toEqual(["userId", "header:Idempotency-Key"]);
  });

  it("creates one order for ten concurrent requests with one Idempotency-Key", async () => {
    const h = await start({ user: "silent" });
    const ids = await Promise.all(
      Array.from({ length: 10 }, () => h.place(orderBody(), { "idempotency-key": "key-3" })),
    );
    expect(new Set(ids).size).toBe(1);
    await sleep(100);
    expect(h.sim.seen.filter((s) => s.event === "order.placed")).toHaveLength(1);
  });

  it("reads its own writes right after placing an order", async () => {
    const h = await start({ user: "silent" });
    const orderId = await h.place();
    const view = await h.request("GET", `/orders/${orderId}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ id: orderId, status: "pending", total: null });
    expect((await h.request("GET", "/orders/unknown")).status).toBe(404);
  });

  it("answers GET /orders/:id from the view its appends wrote, and from the stream once the view is gone", async () => {
    const h = await start({ user: "silent" });
    const orderId = await h.place();
    const { events, views } = h.internals.stores;
    const streamCalls: string[] = [];
    const [read, version] = [events.read.bind(events), events.version.bind(events)];
    events.read = (streamId, options) => (streamCalls.push(`read ${streamId}`), read(streamId, options));
    events.version = (streamId) => (streamCalls.push(`version ${streamId}`), version(streamId));
    const fromView = await h.request("GET", `/orders/${orderId}`);
    expect(fromView.body).toMatchObject({ id: orderId, status: "pending", version: 2 });
    expect(streamCalls).toEqual([]);
    // A view dropped (ORDER_VIEW_RETENTION_MS): the order is folded from its stream.
    await views.clear();
    const fromStream = await h.request("GET", `/orders/${orderId}`);
    expect(fromStream.body).toEqual(fromView.body);
    expect(streamCalls).toEqual([`read order-${orderId}`]);
  });

  it("serves the order's history oldest first without the payment token", async () => {
    const h = await start({ deliver: false });
    const orderId = await h.place();
    await h.waitForStatus(orderId, "shipped");
    const history = await h.request<{ events: { type: string; version: number; data: { to?: string } }[] }>(
      "GET",
      `/orders/${orderId}/events`,
    );
    expect(history.status).toBe(200);
    const { events } = history.body;
    expect(events[0]?.type).toBe("order.event.created");
    expect(events.map((e) => e.version)).toEqual(events.map((_, i) => i + 1));
    const transitions = events.filter((e) => e.type === "order.event.status.changed").map((e) => e.data.to);
    expect(transitions).toEqual(["reserved", "paid", "shipped"]);
    expect(JSON.stringify(history.body)).not.toContain("tok_ok");
  });

  it("lists a user's orders from the read model", async () => {
    const h = await start({ user: "silent" });
    const mine = await h.place(orderBody({ userId: "u-7" }));
    await h.place(orderBody({ userId: "u-8" }));
    const list = await waitFor(async () => {
      const result = await h.request<{ orders: { id: string }[] }>("GET", "/orders?userId=u-7");
      return result.body.orders.length > 0 ? result.body.orders : undefined;
    });
    expect(list.map((o) => o.id)).toEqual([mine]);
  });
});
