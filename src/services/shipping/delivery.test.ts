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
    expect((await deliverDue(deps)).delivered).toBe(0);
    advance(DELAY);
    expect((await deliverDue(deps)).delivered).toBe(1);
    expect((await deliverDue(deps)).delivered).toBe(0);
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

  it("retries a shipment that fails every pass only after its doubling backoff (no busy loop on a stuck record)", async () => {
    const { store, deps, prepare } = setup();
    const logger = { debug: () => {}, warn: () => {} } as never;
    await prepare("o-bad");
    const tried: number[] = [];
    store.get = async () => {
      tried.push(Date.now() - (T0 + DELAY));
      throw new SyntaxError("Unterminated string in JSON at position 337");
    };
    const due = store.due.bind(store);
    let passes = 0;
    store.due = async (now, limit) => {
      passes++;
      return due(now, limit);
    };
    vi.useFakeTimers({ now: T0 + DELAY });
    const poller = startDeliveryPoller({ ...deps, now: () => Date.now(), intervalMs: 500, logger });
    try {
      await vi.advanceTimersByTimeAsync(16_000);
    } finally {
      await poller.stop();
      vi.useRealTimers();
    }
    // Tried about 0.5, 1.5, 3.5, 7.5, 15.5 s in: each wait at least the last backoff (1 s, doubled).
    expect(tried.length).toBeGreaterThanOrEqual(4);
    expect(tried.length).toBeLessThanOrEqual(5);
    tried.slice(1).forEach((at, i) => expect(at - tried[i]!).toBeGreaterThanOrEqual(1_000 * 2 ** i));
    // The idle pace, plus one quick pass after each that moved a shipment back.
    expect(passes).toBeLessThanOrEqual(16_000 / 500 + tried.length);
  });

  it("delivers a shipment behind 150 due ones that fail every pass (unreadable or a Redis error) within two passes", async () => {
    const { sent, store, deps, prepareDueAt, advance } = setup();
    for (let i = 0; i < 150; i++) await prepareDueAt(`o-bad-${i}`, T0 + DELAY - 1_000 + i);
    await prepareDueAt("o-good", T0 + DELAY);
    const get = store.get.bind(store);
    store.get = async (orderId) => {
      if (!orderId.startsWith("o-bad-")) return get(orderId);
      throw Number(orderId.slice("o-bad-".length)) % 2
        ? new SyntaxError("Unexpected token n in JSON at position 1")
        : new Error("WRONGTYPE Operation against a key holding the wrong kind of value");
    };
    advance(DELAY);
    const failed: string[] = [];
    let delivered = 0;
    for (let pass = 0; pass < 2; pass++) {
      delivered += (await deliverDue({ ...deps, onFailure: (orderId) => failed.push(orderId) })).delivered;
      advance(25);
    }
    expect(delivered).toBe(1);
    expect((await store.get("o-good"))?.status).toBe("delivered");
    expect(sent).toHaveLength(1);
    // Each failing one was tried once, then moved back (1 s): still scheduled, not lost.
    expect(new Set(failed).size).toBe(150);
    expect(failed).toHaveLength(150);
    expect(await store.due(T0 + DELAY + 50, 1_000)).toEqual([]);
    expect(await store.due(T0 + DELAY + 1_050, 1_000)).toHaveLength(150);
  });

  it("delivers a shipment whose store failed transiently once the failure clears, retried after 1, 2, 4 s", async () => {
    const { sent, store, deps, prepare, advance } = setup();
    await prepare("o-1");
    const get = store.get.bind(store);
    const tried: number[] = [];
    store.get = async (orderId) => {
      tried.push(deps.now() - (T0 + DELAY));
      if (tried.length <= 3) throw new Error("Connection is closed.");
      return get(orderId);
    };
    advance(DELAY);
    const retries: unknown[] = [];
    for (let t = 0; t <= 10_000; t += 100) {
      await deliverDue({ ...deps, onFailure: (_orderId, _error, retry) => retries.push(retry) });
      advance(100);
    }
    expect(tried).toEqual([0, 1_000, 3_000, 7_000]);
    expect(retries).toEqual([
      { deferred: true, failures: 1, retryAt: T0 + DELAY + 1_000 },
      { deferred: true, failures: 2, retryAt: T0 + DELAY + 3_000 },
      { deferred: true, failures: 3, retryAt: T0 + DELAY + 7_000 },
    ]);
    expect(sent).toHaveLength(1);
    expect((await store.get("o-1"))?.status).toBe("delivered");
  });

  it("two pollers behind failing shipments deliver each good one once and count each failure once", async () => {
    const { sent, store, deps, prepareDueAt, advance } = setup();
    for (let i = 0; i < 120; i++) await prepareDueAt(`o-bad-${i}`, T0 + DELAY - 1_000 + i);
    for (let i = 0; i < 30; i++) await prepareDueAt(`o-good-${i}`, T0 + DELAY);
    const get = store.get.bind(store);
    store.get = async (orderId) => {
      if (orderId.startsWith("o-bad-"))
        throw new Error("WRONGTYPE Operation against a key holding the wrong kind of value");
      return get(orderId);
    };
    advance(DELAY);
    const counted: number[] = [];
    const onFailure = (
      _orderId: string,
      _error: unknown,
      retry?: { deferred: boolean; failures?: number },
    ) => {
      if (retry?.deferred) counted.push(retry.failures ?? 0);
    };
    for (let pass = 0; pass < 3; pass++) {
      await Promise.all([deliverDue({ ...deps, onFailure }), deliverDue({ ...deps, onFailure })]);
      advance(25);
    }
    const deliveredIds = sent.map((m) => (decodeEnvelope(m.body).payload as { orderId: string }).orderId);
    expect(deliveredIds.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `o-good-${i}`).sort());
    expect(counted).toEqual(Array.from({ length: 120 }, () => 1));
  });

  it("delivers each shipment once when two instances poll at the same time", async () => {
    const { sent, deps, prepare, advance } = setup();
    await Promise.all(["o-1", "o-2", "o-3"].map(prepare));
    advance(DELAY);
    const counts = await Promise.all([deliverDue(deps), deliverDue(deps)]);
    expect(counts[0].delivered + counts[1].delivered).toBe(3);
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
    const pass = await deliverDue({ ...deps, onFailure: (orderId) => failures.push(orderId) });
    expect(pass).toEqual({ delivered: 1, deferred: 1, parked: 0 });
    expect((await store.get("o-good"))?.status).toBe("delivered");
    expect(sent.map((m) => (decodeEnvelope(m.body).payload as { orderId: string }).orderId)).toEqual([
      "o-good",
    ]);
    expect(failures).toEqual(["o-bad"]);
    // Still on the schedule, 1 s later (a record a later write repairs is still delivered), so it
    // does not hold the head of the schedule meanwhile.
    expect(await store.due(T0 + DELAY, 10)).toEqual([]);
    expect(await store.due(T0 + DELAY + 1_000, 10)).toEqual(["o-bad"]);
  });

  it("the poller counts each failed try of an unreadable record in shipping_unreadable_records_total, other failures in shipping_delivery_errors_total", async () => {
    const { store, deps, prepare, advance } = setup();
    await Promise.all([prepare("o-bad"), prepare("o-down"), prepare("o-good")]);
    const get = store.get.bind(store);
    store.get = async (orderId) => {
      if (orderId === "o-bad") throw new SyntaxError("Unterminated string in JSON at position 337");
      // Not the record: the store could not read it (a Redis error is not an unreadable record).
      if (orderId === "o-down")
        throw new Error("WRONGTYPE Operation against a key holding the wrong kind of value");
      return get(orderId);
    };
    const registry = new Registry();
    const counter = (name: string) => new Counter({ name, help: "test", registers: [registry] });
    const unreadable = counter("ordersaga_shipping_unreadable_records_total");
    const errors = counter("ordersaga_shipping_delivery_errors_total");
    const logger = { warn: () => {}, debug: () => {} } as unknown as Parameters<
      typeof startDeliveryPoller
    >[0]["logger"];
    advance(DELAY);
    let passes = 0;
    const due = store.due.bind(store);
    store.due = async (...args) => {
      passes++;
      // Every pass a minute later: past any backoff, both failing ones are due (and tried) again.
      advance(60_000);
      return due(deps.now(), args[1]);
    };
    const poller = startDeliveryPoller({ ...deps, intervalMs: 1, logger, unreadable, errors });
    try {
      await waitFor(async () => passes >= 3, 10_000, "three delivery passes");
    } finally {
      await poller.stop();
    }
    // Every pass (each ran to its end before stop resolved) tried each failing one once.
    expect((await unreadable.get()).values[0]?.value).toBe(passes);
    expect((await errors.get()).values[0]?.value).toBe(passes);
    expect((await store.get("o-good"))?.status).toBe("delivered");
  });

  it("the poller parks a record that never reads at parkAfter, counts it once in shipping_deliveries_parked_total and logs an error", async () => {
    const { store, deps, prepare, advance } = setup();
    await prepare("o-bad");
    const get = store.get.bind(store);
    store.get = async (orderId) => {
      if (orderId === "o-bad") throw new SyntaxError("Unterminated string in JSON at position 337");
      return get(orderId);
    };
    const registry = new Registry();
    const parked = new Counter({
      name: "ordersaga_shipping_deliveries_parked_total",
      help: "t",
      registers: [registry],
    });
    const errorLogs: unknown[] = [];
    const logger = {
      warn: () => {},
      debug: () => {},
      info: () => {},
      error: (fields: unknown) => errorLogs.push(fields),
    } as unknown as Parameters<typeof startDeliveryPoller>[0]["logger"];
    advance(DELAY);
    const due = store.due.bind(store);
    store.due = async (...args) => {
      // Every pass a minute later: past any backoff, the failing one is due (and tried) again.
      advance(60_000);
      return due(deps.now(), args[1]);
    };
    const poller = startDeliveryPoller({ ...deps, parkAfter: 3, intervalMs: 1, logger, parked });
    try {
      await waitFor(async () => (await store.parkedCount()) === 1, 10_000, "parked");
    } finally {
      await poller.stop();
    }
    expect(await store.due(deps.now() + 60_000, 10)).toEqual([]);
    expect((await parked.get()).values[0]?.value).toBe(1);
    expect(errorLogs).toEqual([expect.objectContaining({ orderId: "o-bad", failures: 3 })]);
    expect((await store.parked())[0]?.reason).toMatch(/cannot be read: Unterminated string/);
  });

  it("never delivers a cancelled shipment, and drops its stale schedule entry", async () => {
    const { sent, store, deps, prepare, advance } = setup();
    const record = await prepare("o-1");
    await store.commit(cancelledRecord(record, "payment failed", new Date(T0).toISOString()), "prepared", []);
    advance(DELAY);
    expect((await deliverDue(deps)).delivered).toBe(0);
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
    expect((await deliverDue(deps)).delivered).toBe(1);
    const delivered = decodeEnvelope(sent[0]?.body ?? "");
    expect(delivered.event).toBe("shipping.shipment.delivered");
    expect(delivered.traceparent.slice(3, 35)).toBe(completed.traceparent.slice(3, 35));
    expect(delivered.traceparent).not.toBe(completed.traceparent);
  });
});
