/**
 * What tracing costs, in one run: bus throughput (Publisher → Redis Streams → Subscriber, with the
 * tracing wrappers the services use) and CPU per completed order (the embedded system, orders
 * through the gateway), each with tracing off, on without an exporter, and on with the OTLP/HTTP
 * exporter sending to a local receiver. One tracer provider for the run; its exporter is switched
 * between the modes.
 *
 *   npx tsx bench/tracing.ts [--write]   (--write replaces the section in BENCHMARKS.md)
 */
import { freePort } from "../src/test-support/redis-server.js";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import type { Context } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { createApiClient } from "../src/demo/client.js";
import { markTracingEnabled } from "../src/lib/observability/spans.js";
import { initTracing } from "../src/lib/observability/tracing.js";
import { startEmbeddedSystem } from "../src/system/embedded.js";
import { startOtlpReceiver } from "../src/test-support/otlp-receiver.js";
import { waitFor } from "../src/test-support/wait.js";
import { type BusResult, libraryStreams } from "./bus.js";
import { round, startBenchRedis } from "./support.js";

type Mode = "off" | "on, no exporter" | "on, OTLP exporter";
const MODES: Mode[] = ["off", "on, no exporter", "on, OTLP exporter"];

/** Forwards to the OTLP batch processor only while `exporting`. */
class SwitchableProcessor implements SpanProcessor {
  exporting = false;
  constructor(private readonly inner: SpanProcessor) {}
  onStart(span: Span, parent: Context): void {
    if (this.exporting) this.inner.onStart(span, parent);
  }
  onEnd(span: ReadableSpan): void {
    if (this.exporting) this.inner.onEnd(span);
  }
  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }
}

export interface OrderCost {
  orders: number;
  seconds: number;
  cpuMsPerOrder: number;
  ordersPerSecond: number;
}

async function orderCost(total: number, concurrency: number): Promise<OrderCost> {
  const port = await freePort();
  const system = await startEmbeddedSystem({ gatewayPort: port, logLevel: "warn", pretty: false });
  const api = createApiClient(system.gatewayUrl);
  try {
    const user = await api.post<{ id: string }>("/users", {
      email: `bench-${Date.now()}@example.com`,
      name: "B",
    });
    const productId = `bench-${Date.now()}`;
    await api.post("/inventory", { productId, name: "bench", price: 100, quantity: 1_000_000 });
    const cpu = process.cpuUsage();
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const placed = await api.post<{ orderId: string }>("/orders", {
          userId: user.body.id,
          items: [{ productId, quantity: 1 }],
          payment: { token: "tok_ok" },
        });
        await waitFor(
          async () => {
            const res = await api.get<{ status: string }>(`/orders/${placed.body.orderId}`);
            return ["shipped", "delivered", "failed"].includes(res.body.status);
          },
          60_000,
          "order done",
          5,
        );
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return {
      orders: total,
      seconds: round(seconds, 2),
      cpuMsPerOrder: round((used.user + used.system) / 1000 / total, 2),
      ordersPerSecond: round(total / seconds, 1),
    };
  } finally {
    await system.stop();
  }
}

export interface TracingBench {
  bus: { mode: Mode; result: BusResult }[];
  orders: { mode: Mode; result: OrderCost }[];
  spansReceived: number;
}

export async function benchTracing(redisUrl: string, messages = 20_000, orders = 100): Promise<TracingBench> {
  const receiver = await startOtlpReceiver();
  const switchable = new SwitchableProcessor(
    new BatchSpanProcessor(new OTLPTraceExporter({ url: `${receiver.url}/v1/traces` })),
  );
  initTracing({ service: "bench", env: { TRACING_ENABLED: "true" }, spanProcessors: [switchable] });
  const set = (mode: Mode) => {
    markTracingEnabled(mode !== "off");
    switchable.exporting = mode === "on, OTLP exporter";
  };
  const bus: TracingBench["bus"] = [];
  const costs: TracingBench["orders"] = [];
  try {
    for (const mode of MODES) {
      set(mode);
      const result = await libraryStreams(redisUrl, messages, undefined, { traced: true, label: mode });
      bus.push({ mode, result });
      await switchable.forceFlush();
    }
    for (const mode of MODES) {
      set(mode);
      costs.push({ mode, result: await orderCost(orders, 10) });
      await switchable.forceFlush();
    }
  } finally {
    set("off");
    await receiver.close();
  }
  return { bus, orders: costs, spansReceived: receiver.spans.length };
}

export function tracingSection(bench: TracingBench): string {
  const base = bench.bus[0]!.result.perSecond;
  const baseCpu = bench.orders[0]!.result.cpuMsPerOrder;
  return `### What tracing costs

\`npx tsx bench/tracing.ts --write\` (also part of \`npm run bench\`), all in one run: tracing off, on with no
exporter (spans made, context propagated, trace ids in logs, nothing sent), and on with the OTLP/HTTP
exporter sending to a local receiver (${bench.spansReceived.toLocaleString("en-US")} spans received). The receiver
decodes the OTLP JSON in the benchmark's own process, so its cost is counted in the exporter rows; the
machine's load (${loadAverage()}, load average over 1 min on ${cpus().length} cores) is shared with other work.

Bus: ${bench.bus[0]!.result.messages.toLocaleString("en-US")} messages published in batches of 100, one
consumer, the producer and consumer spans the services make (with tracing off no transport wrapper is
installed, as in the services: the "off" row is the bare transport):

| tracing | msgs/s | vs off | p50 ms | p99 ms |
|---|---:|---:|---:|---:|
${bench.bus
  .map(
    ({ mode, result }) =>
      `| ${mode} | ${result.perSecond.toLocaleString("en-US")} | ${round((result.perSecond / base) * 100, 1)}% | ${result.latency.p50} | ${result.latency.p99} |`,
  )
  .join("\n")}

Orders: ${bench.orders[0]!.result.orders} orders through the gateway of the embedded in-memory system, 10 at a
time, each polled until shipped; CPU of the whole process (services, gateway and load generator) per
completed order:

| tracing | orders/s | CPU ms per order | vs off |
|---|---:|---:|---:|
${bench.orders
  .map(
    ({ mode, result }) =>
      `| ${mode} | ${result.ordersPerSecond} | ${result.cpuMsPerOrder} | ${round((result.cpuMsPerOrder / baseCpu) * 100, 1)}% |`,
  )
  .join("\n")}
`;
}

const loadAverage = () => round(loadavg()[0] ?? 0, 1);

const START = "<!-- tracing-bench:start -->";
const END = "<!-- tracing-bench:end -->";

/** Replaces (or appends) the marked tracing section of BENCHMARKS.md. */
export function writeTracingSection(section: string, file = "BENCHMARKS.md"): void {
  const text = readFileSync(file, "utf8");
  const block = `${START}\n${section}${END}`;
  const at = text.indexOf(START);
  const updated =
    at >= 0
      ? `${text.slice(0, at)}${block}${text.slice(text.indexOf(END) + END.length)}`
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, updated);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const redis = await startBenchRedis();
  try {
    const bench = await benchTracing(redis.url);
    const section = tracingSection(bench);
    console.log(section);
    if (process.argv.includes("--write")) writeTracingSection(section);
  } finally {
    await redis.stop();
  }
  process.exit(0);
}
