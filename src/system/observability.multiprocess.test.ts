/**
 * Observability of the real system: every service its own process over a real Redis, tracing on
 * with the OTLP/HTTP exporter pointed at a receiver this test runs. One placed order is one trace
 * across the processes (compensations included), log lines carry the trace, the metrics move
 * under load, and every metric the dashboard and alert rules use exists.
 */
import { readFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createApiClient } from "../demo/client.js";
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  startOtlpReceiver,
} from "../test-support/otlp-receiver.js";
import { describeWithRedis } from "../test-support/redis.js";
import { waitFor } from "../test-support/wait.js";
import { type LaunchedSystem, launch, planProcesses } from "./launcher.js";
import { formatTimeline, type OrderHistory } from "./order-timeline.js";

const root = new URL("../../", import.meta.url);

describeWithRedis("observability over every service as its own process", (getRedis) => {
  let system: LaunchedSystem | undefined;
  let receiver: OtlpReceiver;
  let urls = new Map<string, string>();
  let gatewayUrl = "";
  const logs: string[] = [];
  const api = () => createApiClient(gatewayUrl);

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const specs = planProcesses({
      redisUrl: getRedis().url,
      gatewayPort: 0, // read back once up: a port picked free here could be taken first (flake31 F6)
      // debug: one line per handled message, which must carry the trace.
      logLevel: "debug",
      anyPort: true,
      env: {
        HEARTBEAT_INTERVAL_MS: "1000",
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_BSP_SCHEDULE_DELAY: "200",
      },
    });
    system = launch(specs, (line) => logs.push(line));
    urls = await system.ready.catch((error: Error) => {
      throw new Error(`${error.message}\n${logs.slice(-30).join("\n")}`);
    });
    gatewayUrl = `http://127.0.0.1:${new URL(urls.get("gateway")!).port}`;
    await waitFor(
      async () => {
        const res = await fetch(`${gatewayUrl}/services`);
        const body = (await res.json()) as { services: { instances: unknown[] }[] };
        return body.services.length >= 6 && body.services.every((s) => s.instances.length > 0);
      },
      120_000,
      "all services registered",
    );
    // Registered is not yet answering through the gateway (health checks run on an interval).
    await waitFor(
      async () =>
        (await fetch(`${gatewayUrl}/orders/unknown-order`)).status === 404 &&
        (await fetch(`${gatewayUrl}/inventory`)).status === 200 &&
        (await fetch(`${gatewayUrl}/users/unknown-user`)).status === 404,
      60_000,
      "the gateway reaching the services",
      200,
    );
  }, 240_000);

  afterAll(async () => {
    await system?.stop();
    await receiver?.close();
  }, 60_000);

  /** Places an order; returns its id and the saga's correlation id (what the order's messages carry). */
  async function placeOrder(
    token: string,
    headers: Record<string, string> = {},
  ): Promise<{ orderId: string; correlationId: string; clientValue: string }> {
    const user = await api().post<{ id: string }>("/users", {
      email: `obs-${randomUUID()}@example.com`,
      name: "Observer",
    });
    const productId = `obs-${randomUUID().slice(0, 8)}`;
    await api().post("/inventory", { productId, name: "traced", price: 250, quantity: 50 });
    // A client's own x-correlation-id is not the saga's (break35 F5): the 202 names the one minted.
    const clientValue = randomUUID();
    const placed = await api().post<{ orderId: string }>(
      "/orders",
      { userId: user.body.id, items: [{ productId, quantity: 2 }], payment: { token } },
      { ...headers, "x-correlation-id": clientValue },
    );
    expect(placed.status).toBe(202);
    const correlationId = placed.headers.get("x-correlation-id") ?? "";
    expect(correlationId).not.toBe(clientValue);
    expect(correlationId).not.toBe("");
    return { orderId: placed.body.orderId, correlationId, clientValue };
  }

  async function waitForStatus(orderId: string, statuses: string[]): Promise<string> {
    return waitFor(
      async () => {
        const res = await api().get<{ status: string }>(`/orders/${orderId}`);
        return statuses.includes(res.body.status) ? res.body.status : undefined;
      },
      30_000,
      `order ${orderId} in ${statuses.join("/")}`,
    );
  }

  /** The trace of an order: the one holding the `order.placed` producer span of its correlation id. */
  const traceOf = (correlationId: string): ReceivedSpan[] => {
    const anchor = receiver.spans.find(
      (s) =>
        s.name === "publish order.placed" &&
        s.attributes["messaging.message.conversation_id"] === correlationId,
    );
    return anchor ? receiver.spans.filter((s) => s.traceId === anchor.traceId) : [];
  };

  /** Spans whose parent is not in the trace (received so far): the one root once all arrived. */
  const rootsOf = (spans: ReceivedSpan[]) => {
    const ids = new Set(spans.map((s) => s.spanId));
    return spans
      .filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId))
      .map((r) => `${r.service}:${r.name}`);
  };

  function expectOneConnectedTrace(spans: ReceivedSpan[]): void {
    expect(rootsOf(spans), "one root: the gateway's request").toEqual(["gateway:POST /orders"]);
    // Every consumer span is the child of the producer span of the message it handles.
    for (const consumer of spans.filter((s) => s.kind === SPAN_KIND.consumer)) {
      const parent = spans.find((s) => s.spanId === consumer.parentSpanId);
      expect(parent?.kind, `${consumer.service}:${consumer.name}`).toBe(SPAN_KIND.producer);
      expect(parent?.attributes["messaging.destination.name"]).toBe(
        consumer.attributes["messaging.destination.name"],
      );
      expect(consumer.attributes["messaging.system"]).toBe("redis");
      expect(consumer.attributes["messaging.operation"]).toBe("process");
    }
  }

  /** Waits until the order's trace has the given spans and every span's parent has arrived too. */
  async function traceWith(correlationId: string, needed: string[]): Promise<ReceivedSpan[]> {
    let last: ReceivedSpan[] = [];
    return waitFor(
      () => {
        last = traceOf(correlationId);
        const seen = names(last);
        return needed.every((n) => seen.has(n)) && rootsOf(last).length === 1 ? last : undefined;
      },
      20_000,
      "the order's trace",
      100,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}; roots ${rootsOf(last).join(", ")}; spans ${[...names(last)].join(", ")}`,
      );
    });
  }

  const names = (spans: ReceivedSpan[]) => new Set(spans.map((s) => `${s.service}:${s.name}`));

  it("traces a completed order, its scheduled delivery included, as one trace across the gateway and every service", async () => {
    const { orderId, correlationId, clientValue } = await placeOrder("tok_ok");
    // Delivered: the shipping service's delivery timer (5 s after completion) ran.
    await waitForStatus(orderId, ["delivered"]);
    const spans = await traceWith(correlationId, [
      "notification:process order.completed",
      "order:process shipping.shipment.prepared",
      "order:process shipping.shipment.delivered",
    ]);
    const seen = names(spans);
    for (const expected of [
      "gateway:POST /orders",
      "gateway:POST",
      "order:POST /orders",
      "order:publish order.placed",
      "order:publish user.validation.requested",
      "user:process user.validation.requested",
      "user:publish user.validated",
      "order:process user.validated",
      "inventory:process inventory.reservation.requested",
      "payment:process payment.requested",
      "payment:payment-provider charge",
      "shipping:process shipping.shipment.requested",
      "shipping:carrier prepare",
      "order:redis EVALSHA",
      "notification:process order.completed",
      "shipping:shipping deliver",
      "shipping:publish shipping.shipment.delivered",
      "order:process shipping.shipment.delivered",
    ])
      expect(seen, expected).toContain(expected);
    // The timer's span continues the trace from the handling of order.completed that scheduled it.
    const deliver = spans.find((s) => s.name === "shipping deliver")!;
    const scheduler = spans.find((s) => s.spanId === deliver.parentSpanId);
    expect(`${scheduler?.service}:${scheduler?.name}`).toBe("shipping:process order.completed");
    // The gateway's client span carried the context to the order service's server span.
    const client = spans.find((s) => s.service === "gateway" && s.kind === SPAN_KIND.client)!;
    const server = spans.find((s) => s.service === "order" && s.kind === SPAN_KIND.server)!;
    expect(server.parentSpanId).toBe(client.spanId);
    expect(client.attributes["http.response.status_code"]).toBe(202);
    // The client's x-correlation-id is kept beside the saga's, on the order service's span (break35 F5).
    expect(server.attributes["ordersaga.client.correlation_id"]).toBe(clientValue);
    const producer = spans.find((s) => s.name === "publish order.placed")!;
    expect(producer.attributes).toMatchObject({
      "messaging.system": "redis",
      "messaging.destination.name": "order.placed",
      "messaging.operation": "publish",
    });
    expectOneConnectedTrace(spans);
  }, 60_000);

  it("traces a compensated order, compensations included, as one trace", async () => {
    const { orderId, correlationId } = await placeOrder("tok_decline");
    await waitForStatus(orderId, ["failed"]);
    const spans = await traceWith(correlationId, [
      "inventory:process order.compensation.inventory.release",
      "order:process inventory.released",
    ]);
    const seen = names(spans);
    for (const expected of [
      "payment:process payment.requested",
      "payment:publish payment.failed",
      "order:process payment.failed",
      "order:publish order.compensation.inventory.release",
      "inventory:process order.compensation.inventory.release",
    ])
      expect(seen, expected).toContain(expected);
    expect(seen).not.toContain("shipping:process shipping.shipment.requested");
    expectOneConnectedTrace(spans);
  }, 60_000);

  it("keeps a client's traceparent out of the order's trace: sampled-off still traced, no shared trace, the timeline's id is real", async () => {
    const client = "11111111111111111111111111111111";
    const unsampled = await placeOrder("tok_ok", { traceparent: `00-${client}-2222222222222222-00` });
    const sampled = [
      await placeOrder("tok_ok", { traceparent: `00-${client}-3333333333333333-01` }),
      await placeOrder("tok_ok", { traceparent: `00-${client}-3333333333333333-01` }),
    ];
    const traceIds: string[] = [];
    for (const placed of [unsampled, ...sampled]) {
      await waitForStatus(placed.orderId, ["shipped", "delivered"]);
      const spans = await traceWith(placed.correlationId, ["notification:process order.completed"]);
      expectOneConnectedTrace(spans);
      const traceId = spans[0]!.traceId;
      expect(traceId).not.toBe(client);
      // Only this order's messages are in its trace.
      const conversations = new Set(
        spans.map((s) => s.attributes["messaging.message.conversation_id"]).filter((c) => c !== undefined),
      );
      expect([...conversations]).toEqual([placed.correlationId]);
      // What `npm run trace` prints: the id of the trace that exists.
      const history = await api().get<OrderHistory>(`/orders/${placed.orderId}/events`);
      expect(history.body.traceId).toBe(traceId);
      expect(formatTimeline(history.body)).toContain(`trace id: ${traceId}`);
      traceIds.push(traceId);
    }
    expect(new Set(traceIds).size).toBe(3);
  }, 90_000);

  it("writes trace_id and span_id on every line logged while handling a message or a request", async () => {
    const { orderId, correlationId } = await placeOrder("tok_ok");
    await waitForStatus(orderId, ["shipped", "delivered"]);
    const traceId = (await traceWith(correlationId, ["notification:process order.completed"]))[0]!.traceId;
    const lines = logs
      .map((l) => l.replace(/^\[[^\]]+\] /, ""))
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r.correlationId === correlationId);
    const handled = lines.filter((r) => r.msg === "event handled");
    expect(handled.length).toBeGreaterThanOrEqual(8);
    for (const line of lines) expect(line.trace_id, String(line.msg)).toBe(traceId);
    // Each line's span is one of the trace's (spans are exported when they end: wait for the last).
    await waitFor(
      () => {
        const spanIds = new Set(traceOf(correlationId).map((s) => s.spanId));
        return lines.every((line) => spanIds.has(String(line.span_id)));
      },
      20_000,
      "every logged span exported",
      100,
    );
  }, 60_000);

  /** Every process's /metrics, concatenated. */
  const allMetrics = async (): Promise<string> =>
    (await Promise.all([...urls.values()].map(async (url) => (await fetch(`${url}/metrics`)).text()))).join(
      "\n",
    );

  /** Sum of a metric's samples whose label set contains every given label. */
  const total = (text: string, name: string, labels: Record<string, string> = {}): number => {
    let sum = 0;
    for (const line of text.split("\n")) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
    return sum;
  };

  it("moves the counters and histograms when orders are placed", async () => {
    const before = await allMetrics();
    const orders = await Promise.all([placeOrder("tok_ok"), placeOrder("tok_ok"), placeOrder("tok_decline")]);
    await Promise.all(orders.map((o) => waitForStatus(o.orderId, ["shipped", "delivered", "failed"])));
    const after = await waitFor(
      async () => {
        const text = await allMetrics();
        // A declined payment's saga requests more than one compensation: wait for all of them to
        // settle (the pending gauge back to 0), not only for the first (seen on a loaded machine).
        return total(text, "ordersaga_saga_compensations_settled_total") >
          total(before, "ordersaga_saga_compensations_settled_total") &&
          total(text, "ordersaga_saga_compensations_pending") === 0
          ? text
          : undefined;
      },
      20_000,
      "the compensations settled",
      200,
    );
    const moved = (name: string, labels: Record<string, string> = {}) =>
      total(after, name, labels) - total(before, name, labels);
    expect(
      moved("ordersaga_http_requests_total", { service: "gateway", route: "/orders", status: "202" }),
    ).toBe(3);
    expect(
      moved("ordersaga_http_request_duration_seconds_count", { service: "gateway", route: "/orders" }),
    ).toBe(3);
    expect(
      moved("ordersaga_events_processed_total", { event: "payment.requested", outcome: "success" }),
    ).toBe(3);
    expect(
      moved("ordersaga_event_duration_seconds_count", { event: "user.validation.requested" }),
    ).toBeGreaterThanOrEqual(3);
    expect(moved("ordersaga_sagas_total", { outcome: "completed" })).toBe(2);
    expect(moved("ordersaga_sagas_total", { outcome: "failed" })).toBe(1);
    expect(moved("ordersaga_saga_duration_seconds_count")).toBe(3);
    expect(moved("ordersaga_saga_step_duration_seconds_count", { step: "payment" })).toBe(3);
    expect(moved("ordersaga_saga_step_duration_seconds_count", { step: "payment", outcome: "failed" })).toBe(
      1,
    );
    expect(moved("ordersaga_saga_compensations_requested_total")).toBeGreaterThanOrEqual(1);
    expect(total(after, "ordersaga_saga_compensations_pending")).toBe(0);
    // The lag and pending gauges exist per subscribed stream of each group (and are back to 0).
    expect(after).toMatch(/^ordersaga_consumer_lag_messages\{[^}]*topic="payment\.requested"[^}]*\} 0$/m);
    expect(after).toMatch(
      /^ordersaga_consumer_pending_messages\{[^}]*topic="inventory\.reservation\.requested"[^}]*\} \d+$/m,
    );
  }, 90_000);

  it("serves every metric the Grafana dashboard and the alert rules use", async () => {
    const text = await allMetrics();
    const exposed = new Set([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]!));
    const histograms = new Set([...text.matchAll(/^# TYPE (\S+) histogram$/gm)].map((m) => m[1]!));
    const sources = [
      readFileSync(new URL("ops/grafana/dashboards/ordersaga.json", root), "utf8"),
      readFileSync(new URL("ops/prometheus/alerts.yml", root), "utf8"),
    ];
    const referenced = new Set(
      sources.flatMap((s) => [...s.matchAll(/\bordersaga_[a-z0-9_]+/g)].map((m) => m[0])),
    );
    expect(referenced.size).toBeGreaterThan(10);
    for (const name of referenced) {
      const base = name.replace(/_(bucket|count|sum)$/, "");
      const ok = exposed.has(name) || (base !== name && histograms.has(base));
      expect(ok, `${name} in some /metrics`).toBe(true);
    }
  }, 30_000);
});
