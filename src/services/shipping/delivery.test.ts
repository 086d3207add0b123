import { Counter, Registry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import { AllEvents } from "../../contracts/index.js";
import { decodeEnvelope } from "../../lib/bus/envelope.js";
import { Publisher } from "../../lib/bus/publisher.js";
import type { OutgoingMessage } from "../../lib/bus/transport.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { SimulatedCarrier } from "./carrier.js";
import { deliverDue, startDeliveryPoller } from "./delivery.js";
import { createShippingHandlers, type HandlerContext } from "./handlers.js";
import { cancelledRecord, preparedRecord, scheduledRecord } from "./domain.js";
import { MemoryShippingStore } from "./store.js";
import { waitFor } from "../../test-support/wait.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const DELAY = 5_000;

function setup() {
  const sent: OutgoingMessage[] = [];
  const store = new MemoryShippingStore(async (messages) => {
    sent.push(...messages);
  });
  const publisher = new Publisher({
    events: AllEvents,
    transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
    source: { service: "shipping", instance: "test" },
  });
  let clock = T0;
  const deps = { store, publisher, now: () => clock };
  /** A prepared shipment, scheduled `delay` ms after T0 as the saga's order.completed does. */
  const prepareWithDelay = async (orderId: string, delay: number) => {
    const record = preparedRecord(
      { orderId, userId: "u", items: [{ productId: "p", quantity: 1 }] },
      { shipmentId: `s-${orderId}`, trackingNumber: "SIM0000000000", carrier: "SimShip" },
      `corr-${orderId}`,
      T0,
    );
    await store.commit(record, null, []);
    // As the saga's order.completed does (handlers.ts orderCompleted).
    expect(await store.scheduleDelivery(orderId, T0, delay)).toEqual({ scheduled: true });
    return scheduledRecord(record, T0, delay);
  };
  return {
    sent,
    store,
    deps,
    prepare: (orderId: string) => prepareWithDelay(orderId, DELAY),
    advance: (ms: number) => (clock += ms),
    /** Schedules a prepared shipment due at `dueAt` (ms epoch). */
    prepareDueAt: (orderId: string, dueAt: number) => prepareWithDelay(orderId, dueAt - T0),
  };
}

describe("scheduled delivery", () => {
  it("delivers a prepared shipment once its delay has passed, with the saga's correlation id", async () => {
    const { sent, store, deps, prepare, advance } = setup();
    await prepare("o-1");
    expect(await deliverDue(deps)).toBe(0);
    advance(DELAY);
    expect(await deliverDue(deps)).toBe(1);
    expect(await deliverDue(deps)).toBe(0);
    expect(sent.map((m) => m.topic)).toEqual(["shipping.shipment.delivered"]);
    const envelope = decodeEnvelope(sent[0]?.body ?? "");
    expect(envelope.correlationId).toBe("corr-o-1");
    expect(envelope.payload).toEqual({
      orderId: "o-1",
      shipmentId: "s-o-1",
      deliveredAt: new Date(T0 + DELAY).toISOString(),
    });
    expect((await store.get("o-1"))?.status).toBe("delivered");
  });

  it("under a steady stream of due shipments, delivers them a few per pass, not a poll interval's worth at once", async () => {
    // Every pass's deliveries go out together and fan out (order.delivered, notifications) in
    // every service at once: at a 500 ms interval and 100 orders/s a burst of 50 orders' work
    // every half second, which the placement → shipped path of the orders in flight waits behind.
    const { sent, deps, prepareDueAt, advance } = setup();
    const logger = { debug: () => {}, warn: () => {} } as never;
    for (let i = 0; i < 150; i++) await prepareDueAt(`o-${i}`, T0 + DELAY + i * 10); // 100/s for 1.5 s
    advance(DELAY);
    vi.useFakeTimers();
    const poller = startDeliveryPoller({ ...deps, intervalMs: 500, logger });
    try {
      const perStep: number[] = [];
      for (let t = 0; t < 1_500; t += 10) {
        const before = sent.length;
        advance(10);
        await vi.advanceTimersByTimeAsync(10);
        perStep.push(sent.length - before);
      }
      // The first pass takes what came due while the poller idled; after that, passes follow
      // each other while they find work, each delivering what came due since the last one.
      const steady = perStep.slice(60);
      expect(steady.reduce((a, b) => a + b, 0)).toBeGreaterThan(50);
      expect(Math.max(...steady)).toBeLessThanOrEqual(10);
    } finally {
      await poller.stop();
      vi.useRealTimers();
    }
  });

  it("keeps the idle pace while the only due shipment fails every pass (no busy loop on a stuck record)", async () => {
    const { store, deps, prepare, advance } = setup();
    const logger = { debug: () => {}, warn: () => {} } as never;
    await prepare("o-bad");
    store.get = async () => {
      throw new SyntaxError("Unterminated string in JSON at position 337");
    };
    const due = store.due.bind(store);
    let passes = 0;
    store.due = async (now, limit) => {
      passes++;
      return due(now, limit);
    };
    advance(DELAY);
    vi.useFakeTimers();
    const poller = startDeliveryPoller({ ...deps, intervalMs: 500, logger });
    try {
      await vi.advanceTimersByTimeAsync(2_050);
      expect(passes).toBe(4);
    } finally {
      await poller.stop();
      vi.useRealTimers();
    }
  });

  it("delivers each shipment once when two instances poll at the same time", async () => {
    const { sent, deps, prepare, advance } = setup();
    await Promise.all(["o-1", "o-2", "o-3"].map(prepare));
    advance(DELAY);
    const counts = await Promise.all([deliverDue(deps), deliverDue(deps)]);
    expect(counts[0] + counts[1]).toBe(3);
    expect(sent).toHaveLength(3);
  });

  it("delivers the other due shipments when one record cannot be read, and reports that one", async () => {
    const { sent, store, deps, prepare, advance } = setup();
    // Same due time: due() lists o-bad first (then by id).
    await Promise.all([prepare("o-bad"), prepare("o-good")]);
    // A record Redis holds but that no longer parses (break-svc F1: spliced JSON), due first.
    const get = store.get.bind(store);
    store.get = async (orderId) => {
      if (orderId === "o-bad") throw new SyntaxError("Unterminated string in JSON at position 337");
      return get(orderId);
    };
    const failures: string[] = [];
    advance(DELAY);
    expect(await store.due(T0 + DELAY, 10)).toEqual(["o-bad", "o-good"]);
    const delivered = await deliverDue({ ...deps, onFailure: (orderId) => failures.push(orderId) });
    expect(delivered).toBe(1);
    expect((await store.get("o-good"))?.status).toBe("delivered");
    expect(sent.map((m) => (decodeEnvelope(m.body).payload as { orderId: string }).orderId)).toEqual([
      "o-good",
    ]);
    expect(failures).toEqual(["o-bad"]);
    // Left on the schedule: a record a later write repairs is still delivered.
    expect(await store.due(T0 + DELAY, 10)).toEqual(["o-bad"]);
  });

  it("the poller counts each skip of an unreadable record in shipping_unreadable_records_total, not other failures", async () => {
    const { store, deps, prepare, advance } = setup();
    await Promise.all([prepare("o-bad"), prepare("o-down"), prepare("o-good")]);
    const get = store.get.bind(store);
    store.get = async (orderId) => {
      if (orderId === "o-bad") throw new SyntaxError("Unterminated string in JSON at position 337");
      // Not the record: the store could not be asked (a Redis outage is not an unreadable record).
      if (orderId === "o-down") throw new Error("Connection is closed.");
      return get(orderId);
    };
    const registry = new Registry();
    const unreadable = new Counter({
      name: "ordersaga_shipping_unreadable_records_total",
      help: "test",
      registers: [registry],
    });
    const logger = { warn: () => {}, debug: () => {} } as unknown as Parameters<
      typeof startDeliveryPoller
    >[0]["logger"];
    advance(DELAY);
    let passes = 0;
    const due = store.due.bind(store);
    store.due = async (...args) => {
      passes++;
      return due(...args);
    };
    const poller = startDeliveryPoller({ ...deps, intervalMs: 1, logger, unreadable });
    try {
      await waitFor(async () => passes >= 3, 10_000, "three delivery passes");
    } finally {
      await poller.stop();
    }
    // Every pass (each ran to its end before stop resolved) skipped o-bad once; o-down never counts.
    expect((await unreadable.get()).values[0]?.value).toBe(passes);
    expect((await store.get("o-good"))?.status).toBe("delivered");
  });

  it("never delivers a cancelled shipment, and drops its stale schedule entry", async () => {
    const { sent, store, deps, prepare, advance } = setup();
    const record = await prepare("o-1");
    await store.commit(cancelledRecord(record, "payment failed", new Date(T0).toISOString()), "prepared", []);
    advance(DELAY);
    expect(await deliverDue(deps)).toBe(0);
    expect(sent).toEqual([]);
    expect(await store.due(T0 + DELAY, 10)).toEqual([]);
  });

  it("continues the trace of the order.completed that scheduled it (tracing off: the envelope's trace id)", async () => {
    const { sent, store, deps, advance } = setup();
    const handlers = createShippingHandlers({
      store,
      carrier: new SimulatedCarrier(),
      now: deps.now,
      carrierTimeoutMs: 1_000,
      deliveryDelayMs: DELAY,
    });
    const completed = deps.publisher.prepare(
      "order.completed",
      { orderId: "o-1", userId: "u", total: 100, currency: "USD", durationMs: 10 },
      { correlationId: "corr-o-1" },
    ).envelope;
    const ctx = { envelope: completed, logger: { debug: () => {} } } as unknown as HandlerContext;
    await store.commit(
      preparedRecord(
        { orderId: "o-1", userId: "u", items: [{ productId: "p", quantity: 1 }] },
        { shipmentId: "s-o-1", trackingNumber: "SIM0000000000", carrier: "SimShip" },
        "corr-o-1",
        T0,
      ),
      null,
      [],
    );
    await handlers.orderCompleted(completed.payload, ctx);
    advance(DELAY);
    expect(await deliverDue(deps)).toBe(1);
    const delivered = decodeEnvelope(sent[0]?.body ?? "");
    expect(delivered.event).toBe("shipping.shipment.delivered");
    expect(delivered.traceparent.slice(3, 35)).toBe(completed.traceparent.slice(3, 35));
    expect(delivered.traceparent).not.toBe(completed.traceparent);
  });
});
