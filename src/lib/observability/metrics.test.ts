import perfHooks from "node:perf_hooks";
import { register as globalRegistry } from "prom-client";
import { describe, expect, it, vi } from "vitest";
import { Metrics, type MetricsOptions } from "./metrics.js";

function setup(options: Partial<MetricsOptions> = {}) {
  let time = 1_000_000;
  const metrics = new Metrics({ service: "inventory", now: () => time, random: () => 0, ...options });
  return {
    metrics,
    advance: (ms: number) => {
      time += ms;
    },
    now: () => time,
  };
}

/** Value of one exposed sample, matched by exact labels (the `service` default label included). */
async function sample(
  metrics: Metrics,
  name: string,
  labels: Record<string, string>,
  suffix = "",
): Promise<number | undefined> {
  const wanted = { ...labels, service: "inventory" };
  for (const line of (await metrics.metricsText()).split("\n")) {
    const match = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== `${name}${suffix}`) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]),
    );
    const same =
      Object.keys(found).length === Object.keys(wanted).length &&
      Object.entries(wanted).every(([k, v]) => found[k] === v);
    if (same) return Number(match[3]);
  }
  return undefined;
}

describe("Metrics", () => {
  it("counts processed events by event and outcome, and observes their duration in seconds", async () => {
    const { metrics } = setup();
    metrics.recordEvent("order.placed", "success", 20);
    metrics.recordEvent("order.placed", "success", 40);
    metrics.recordEvent("order.placed", "failure", 5);
    const labels = { event: "order.placed", outcome: "success" };
    expect(await sample(metrics, "ordersaga_events_processed_total", labels)).toBe(2);
    expect(await sample(metrics, "ordersaga_event_duration_seconds", labels, "_count")).toBe(2);
    expect(await sample(metrics, "ordersaga_event_duration_seconds", labels, "_sum")).toBeCloseTo(0.06);
    expect(
      await sample(metrics, "ordersaga_events_processed_total", {
        event: "order.placed",
        outcome: "failure",
      }),
    ).toBe(1);
  });

  it("exposes Prometheus text labelled by service, from its own registry only", async () => {
    const a = setup().metrics;
    const b = new Metrics({ service: "payment" });
    a.recordSaga("completed", 1_500);
    const text = await a.metricsText();
    expect(text).toContain('ordersaga_sagas_total{outcome="completed",service="inventory"} 1');
    expect(await b.metricsText()).not.toContain('outcome="completed"');
    expect(await globalRegistry.metrics()).not.toContain("ordersaga_");
    expect(a.contentType).toMatch(/^text\/plain/);
  });

  it("forgets every label set of a breaker that is gone, so restarts do not grow the metrics", async () => {
    const { metrics } = setup();
    for (let restart = 0; restart < 50; restart++) {
      const breaker = `order:order-${restart}`;
      metrics.recordBreakerChange({ breaker, from: "CLOSED", to: "OPEN" });
      metrics.recordBreakerChange({ breaker, from: "OPEN", to: "HALF_OPEN" });
      if (restart < 49) metrics.forgetBreaker(breaker);
    }
    const text = await metrics.metricsText();
    expect(text.match(/breaker="order:order-\d+"/g)?.every((l) => l === 'breaker="order:order-49"')).toBe(
      true,
    );
    expect(await sample(metrics, "ordersaga_circuit_breaker_state", { breaker: "order:order-49" })).toBe(1);
  });

  it("sets the breaker gauge (0 closed, 1 half-open, 2 open) and counts transitions", async () => {
    const { metrics } = setup();
    metrics.trackBreaker("provider");
    expect(await sample(metrics, "ordersaga_circuit_breaker_state", { breaker: "provider" })).toBe(0);
    metrics.recordBreakerChange({ breaker: "provider", from: "CLOSED", to: "OPEN" });
    expect(await sample(metrics, "ordersaga_circuit_breaker_state", { breaker: "provider" })).toBe(2);
    metrics.recordBreakerChange({ breaker: "provider", from: "OPEN", to: "HALF_OPEN" });
    expect(await sample(metrics, "ordersaga_circuit_breaker_state", { breaker: "provider" })).toBe(1);
    metrics.recordBreakerChange({ breaker: "provider", from: "HALF_OPEN", to: "OPEN" });
    const opened = { breaker: "provider", to: "OPEN" };
    expect(await sample(metrics, "ordersaga_circuit_breaker_transitions_total", opened)).toBe(2);
  });

  it("forwards breaker changes to listeners, stamping the time when missing", () => {
    const { metrics, now } = setup();
    const seen: unknown[] = [];
    const off = metrics.onBreakerChange((c) => seen.push(c));
    metrics.recordBreakerChange({ breaker: "b", from: "CLOSED", to: "OPEN" });
    metrics.recordBreakerChange({ breaker: "b", from: "OPEN", to: "HALF_OPEN", at: 5 });
    off();
    metrics.recordBreakerChange({ breaker: "b", from: "HALF_OPEN", to: "CLOSED" });
    expect(seen).toEqual([
      { breaker: "b", from: "CLOSED", to: "OPEN", at: now() },
      { breaker: "b", from: "OPEN", to: "HALF_OPEN", at: 5 },
    ]);
  });

  it("records HTTP requests by route, upper-case method and status", async () => {
    const { metrics } = setup();
    metrics.recordHttp({ route: "/orders/:id", method: "get", status: 404, durationMs: 3 });
    const labels = { route: "/orders/:id", method: "GET", status: "404" };
    expect(await sample(metrics, "ordersaga_http_requests_total", labels)).toBe(1);
    expect(await sample(metrics, "ordersaga_http_request_duration_seconds", labels, "_count")).toBe(1);
  });

  it("uses the prefix option and can add Node process metrics", async () => {
    const metrics = new Metrics({ service: "gateway", prefix: "shop_", defaultMetrics: true });
    const text = await metrics.metricsText();
    expect(text).toContain("shop_events_processed_total");
    expect(text).toContain("shop_process_cpu_user_seconds_total");
  });

  it("samples the event loop's delay every 100 ms, not 100 times a second (an idle process's main CPU cost)", async () => {
    // prom-client reads perf_hooks at call time: the spy sees the sampler it starts.
    const monitor = vi.spyOn(perfHooks, "monitorEventLoopDelay");
    try {
      const metrics = new Metrics({ service: "gateway", defaultMetrics: true });
      expect(monitor).toHaveBeenCalledTimes(1);
      expect(monitor.mock.calls[0]?.[0]?.resolution).toBe(100);
      expect(await metrics.metricsText()).toContain("ordersaga_nodejs_eventloop_lag_p99_seconds");
    } finally {
      monitor.mockRestore();
    }
  });
});

describe("Metrics series alerted on", () => {
  it("exposes each handled event's dead-letter count and each topic's takeovers at 0 before the first one", async () => {
    const { metrics } = setup();
    metrics.initialiseSeries(["inventory.reservation.requested"]);
    const text = await metrics.metricsText();
    expect(text).toContain(
      'ordersaga_events_processed_total{event="inventory.reservation.requested",outcome="dead_lettered",service="inventory"} 0',
    );
    expect(text).toContain(
      'ordersaga_lease_takeovers_total{topic="inventory.reservation.requested",service="inventory"} 0',
    );
    expect(text).toContain(
      'ordersaga_lease_renewals_total{topic="inventory.reservation.requested",service="inventory"} 0',
    );
    // The first dead letter is then an increase from 0 to 1.
    metrics.recordEvent("inventory.reservation.requested", "dead_lettered", 5);
    expect(
      await sample(metrics, "ordersaga_events_processed_total", {
        event: "inventory.reservation.requested",
        outcome: "dead_lettered",
        service: "inventory",
      }),
    ).toBe(1);
  });

  it("counts hung runs by topic and outcome, from 0, apart from renewals and takeovers (break26 L1)", async () => {
    const { metrics } = setup();
    const topic = "payment.requested";
    metrics.initialiseSeries([topic]);
    const hung = (outcome: string) =>
      sample(metrics, "ordersaga_hung_runs_total", { topic, outcome, service: "inventory" });
    expect(await hung("let_go")).toBe(0);
    expect(await hung("kept")).toBe(0);
    metrics.recordLeaseActivity("hung_let_go", topic, 1);
    metrics.recordLeaseActivity("hung_let_go", topic, 1);
    metrics.recordLeaseActivity("hung_kept", topic, 1);
    metrics.recordLeaseActivity("renewed", topic, 5);
    metrics.recordLeaseActivity("taken_over", topic, 2);
    expect(await hung("let_go")).toBe(2);
    expect(await hung("kept")).toBe(1);
    expect(await sample(metrics, "ordersaga_lease_renewals_total", { topic, service: "inventory" })).toBe(5);
    expect(await sample(metrics, "ordersaga_lease_takeovers_total", { topic, service: "inventory" })).toBe(2);
  });

  it("exports no lag sample when Redis cannot tell the lag (never a false 0), but still the pending count", async () => {
    const { metrics } = setup();
    metrics.setStreamProbe(async () => [
      { topic: "a.known", lag: 7, pending: 1 },
      { topic: "b.unknown", pending: 3 },
    ]);
    const text = await metrics.metricsText();
    expect(text).toContain('ordersaga_consumer_lag_messages{topic="a.known",service="inventory"} 7');
    expect(text).not.toMatch(/ordersaga_consumer_lag_messages\{topic="b\.unknown"/);
    expect(text).toContain('ordersaga_consumer_pending_messages{topic="b.unknown",service="inventory"} 3');
  });
});

describe("Metrics.drainWindow", () => {
  it("aggregates per (event, outcome) and per saga outcome since the last drain", () => {
    const { metrics, advance, now } = setup();
    const start = now();
    metrics.recordEvent("order.placed", "success", 10);
    metrics.recordEvent("order.placed", "success", 30);
    metrics.recordEvent("payment.failed", "dead_lettered", 7);
    metrics.recordSaga("failed", 900);
    advance(10_000);
    expect(metrics.drainWindow()).toEqual({
      windowStart: start,
      windowEnd: start + 10_000,
      events: [
        { event: "order.placed", outcome: "success", count: 2, durationMs: { p50: 10, p99: 30, max: 30 } },
        {
          event: "payment.failed",
          outcome: "dead_lettered",
          count: 1,
          durationMs: { p50: 7, p99: 7, max: 7 },
        },
      ],
      sagas: [{ outcome: "failed", count: 1, durationMs: { p50: 900, p99: 900, max: 900 } }],
    });
  });

  it("starts an empty window where the previous one ended", () => {
    const { metrics, advance, now } = setup();
    metrics.recordEvent("order.placed", "success", 10);
    advance(5_000);
    const first = metrics.drainWindow();
    advance(5_000);
    expect(metrics.drainWindow()).toEqual({
      windowStart: first.windowEnd,
      windowEnd: now(),
      events: [],
      sagas: [],
    });
  });

  it("keeps Prometheus counters cumulative across drains", async () => {
    const { metrics } = setup();
    metrics.recordEvent("order.placed", "success", 1);
    metrics.drainWindow();
    metrics.recordEvent("order.placed", "success", 1);
    const labels = { event: "order.placed", outcome: "success" };
    expect(await sample(metrics, "ordersaga_events_processed_total", labels)).toBe(2);
  });
});
