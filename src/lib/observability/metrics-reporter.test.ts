import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Metrics } from "./metrics.js";
import {
  type MetricsMessage,
  type MetricsReporterOptions,
  startMetricsReporter,
} from "./metrics-reporter.js";

const T0 = Date.parse("2025-01-01T00:00:00.000Z");

function setup(options: Partial<MetricsReporterOptions> = {}) {
  const metrics = new Metrics({ service: "order", now: Date.now });
  const published: MetricsMessage[] = [];
  const reporter = startMetricsReporter({
    metrics,
    service: "order",
    intervalMs: 10_000,
    publish: (...message) => {
      published.push(message);
    },
    now: Date.now,
    ...options,
  });
  return { metrics, published, reporter };
}

describe("startMetricsReporter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("publishes one aggregate per (event, outcome) and per saga outcome each interval", async () => {
    const { metrics, published, reporter } = setup();
    metrics.recordEvent("order.placed", "success", 10);
    metrics.recordEvent("order.placed", "success", 30);
    metrics.recordEvent("order.placed", "failure", 50);
    metrics.recordSaga("completed", 2_000);
    metrics.recordSaga("completed", 4_000);
    await vi.advanceTimersByTimeAsync(10_000);
    const window = { windowStart: "2025-01-01T00:00:00.000Z", windowEnd: "2025-01-01T00:00:10.000Z" };
    expect(published).toEqual([
      [
        "metrics.event.processed",
        {
          service: "order",
          event: "order.placed",
          outcome: "success",
          count: 2,
          durationMs: { p50: 10, p99: 30, max: 30 },
          ...window,
        },
      ],
      [
        "metrics.event.processed",
        {
          service: "order",
          event: "order.placed",
          outcome: "failure",
          count: 1,
          durationMs: { p50: 50, p99: 50, max: 50 },
          ...window,
        },
      ],
      [
        "metrics.saga.completed",
        {
          service: "order",
          outcome: "completed",
          count: 2,
          durationMs: { p50: 2_000, p99: 4_000, max: 4_000 },
          ...window,
        },
      ],
    ]);
    await reporter.stop();
  });

  it("publishes nothing for an empty window, and the next window starts where the last ended", async () => {
    const { metrics, published, reporter } = setup();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toEqual([]);
    metrics.recordEvent("order.placed", "success", 1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toHaveLength(1);
    expect(published[0]?.[1]).toMatchObject({
      windowStart: "2025-01-01T00:00:10.000Z",
      windowEnd: "2025-01-01T00:00:20.000Z",
    });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toHaveLength(1);
    await reporter.stop();
  });

  it("publishes breaker changes as they happen", async () => {
    const { metrics, published, reporter } = setup();
    vi.setSystemTime(T0 + 1_234);
    metrics.recordBreakerChange({ breaker: "payment-provider", from: "CLOSED", to: "OPEN" });
    await vi.advanceTimersByTimeAsync(0);
    expect(published).toEqual([
      [
        "metrics.circuit.breaker.state",
        {
          service: "order",
          breaker: "payment-provider",
          from: "CLOSED",
          to: "OPEN",
          at: "2025-01-01T00:00:01.234Z",
        },
      ],
    ]);
    await reporter.stop();
  });

  it("flush() publishes the current window at once", async () => {
    const { metrics, published, reporter } = setup();
    metrics.recordSaga("cancelled", 100);
    vi.setSystemTime(T0 + 3_000);
    await reporter.flush();
    expect(published).toEqual([
      [
        "metrics.saga.completed",
        expect.objectContaining({ outcome: "cancelled", count: 1, windowEnd: "2025-01-01T00:00:03.000Z" }),
      ],
    ]);
    await reporter.stop();
  });

  it("stop() flushes the last window, then publishes nothing more", async () => {
    const { metrics, published, reporter } = setup();
    metrics.recordEvent("order.placed", "success", 1);
    await reporter.stop();
    expect(published).toHaveLength(1);
    metrics.recordEvent("order.placed", "success", 1);
    metrics.recordBreakerChange({ breaker: "b", from: "CLOSED", to: "OPEN" });
    await vi.advanceTimersByTimeAsync(30_000);
    expect(published).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("reports publish failures to onError and keeps reporting", async () => {
    const errors: string[] = [];
    let fail = true;
    const published: string[] = [];
    const { metrics, reporter } = setup({
      publish: async (...message) => {
        if (fail) throw new Error("bus down");
        published.push(message[0]);
      },
      onError: (error, event) => errors.push(`${event}: ${(error as Error).message}`),
    });
    metrics.recordEvent("order.placed", "success", 1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(errors).toEqual(["metrics.event.processed: bus down"]);
    fail = false;
    metrics.recordEvent("order.placed", "success", 1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(published).toEqual(["metrics.event.processed"]);
    await reporter.stop();
  });
});
