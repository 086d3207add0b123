import { describe, expect, it } from "vitest";
import {
  MemoryEventStore,
  MemoryReadModelStore,
  ProjectionRunner,
  type StoredEvent,
} from "../../lib/eventstore/index.js";
import { toNewEvent } from "./events.js";
import { applyToDeadline, applyToView, type OrderView, orderViewProjection } from "./projections.js";
import { DEFAULT_SAGA_OPTIONS, decide, place, type SagaInput } from "./saga.js";
import { foldEvents } from "./state.js";

const T0 = Date.parse("2025-01-02T03:04:05.000Z");
const orderId = "o-1";

/** The stored history of an order after the given inputs. */
async function history(inputs: SagaInput[]): Promise<{ store: MemoryEventStore; events: StoredEvent[] }> {
  const store = new MemoryEventStore({ tag: "order", now: () => T0 });
  const first = place(
    {
      orderId,
      userId: "u-1",
      items: [{ productId: "sku-1", quantity: 2 }],
      paymentToken: "tok_ok",
      correlationId: "c",
    },
    T0,
  );
  const events = [...first.events];
  for (const input of inputs) events.push(...decide(foldEvents(events)!, input, T0).events);
  await store.append(`order-${orderId}`, events.map(toNewEvent), { expectedVersion: "no_stream" });
  return { store, events: await store.read(`order-${orderId}`) };
}

const valid: SagaInput = { type: "user.validated", payload: { orderId, userId: "u-1", valid: true } };
const reserved: SagaInput = {
  type: "inventory.reserved",
  payload: {
    orderId,
    items: [{ productId: "sku-1", quantity: 2, unitPrice: 700 }],
    total: 1400,
    currency: "EUR",
  },
};

describe("order view projection", () => {
  it("shows an unpriced pending order, then its prices and total once reserved", async () => {
    const { events } = await history([valid, reserved]);
    const created = events.slice(0, 1).reduce<OrderView | undefined>(applyToView, undefined);
    expect(created).toMatchObject({
      status: "pending",
      total: null,
      items: [{ unitPrice: null }],
      version: 1,
    });
    const view = events.reduce<OrderView | undefined>(applyToView, undefined);
    expect(view).toMatchObject({
      id: orderId,
      status: "reserved",
      total: 1400,
      currency: "EUR",
      items: [{ productId: "sku-1", quantity: 2, unitPrice: 700 }],
      version: events.length,
    });
  });

  it("rebuilds to the same views it built incrementally", async () => {
    const { store } = await history([valid, reserved, { type: "cancel" }]);
    const readModel = new MemoryReadModelStore<OrderView>();
    const runner = new ProjectionRunner({ events: store, projection: orderViewProjection, readModel });
    await runner.catchUp();
    const before = await readModel.all();
    await runner.rebuild();
    expect(await readModel.all()).toEqual(before);
    expect(before.get(orderId)?.status).toBe("cancelled");
  });
});

describe("deadline projection", () => {
  it("follows the current step's deadline and clears it when the saga ends", async () => {
    const running = await history([valid]);
    const deadline = running.events.reduce(applyToDeadline, undefined);
    expect(deadline).toEqual({ deadline: T0 + DEFAULT_SAGA_OPTIONS.stepTimeoutMs });
    const ended = await history([{ type: "cancel" }]);
    expect(ended.events.reduce(applyToDeadline, undefined)).toEqual({ deadline: null });
  });

  it("follows a failed order's compensation deadline until the last compensation is confirmed", async () => {
    const cancelled = await history([valid, { type: "cancel" }]);
    expect(cancelled.events.reduce(applyToDeadline, undefined)).toEqual({
      deadline: T0 + DEFAULT_SAGA_OPTIONS.compensationWindowMs,
    });
    const released: SagaInput = {
      type: "compensation.settled",
      compensation: "inventory.release",
      outcome: "done",
      detail: "inventory.released",
    };
    const confirmed = await history([valid, { type: "cancel" }, released]);
    expect(confirmed.events.reduce(applyToDeadline, undefined)).toEqual({ deadline: null });
  });
});
