/**
 * The consumer span's parent comes from the envelope's `traceparent` through the one strict parser
 * (traceparent.ts), as decodeEnvelope reads it: a malformed or all-zero value means a fresh trace,
 * even when a field of the same name further on (attributes, payload) holds a valid one (bus8 item 3).
 * Tracing on (in-memory exporter); a stand-in transport hands the instrumented handler deliveries.
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { initTracing } from "../../observability/tracing.js";
import type { Delivery, DeliveryHandler, Transport } from "../transport.js";
import { instrumentTransport } from "./tracing.js";

const exporter = new InMemorySpanExporter();
let handler: DeliveryHandler | undefined;

/** A transport whose subscribe keeps the (instrumented) handler it is given. */
const capturing = {
  kind: "memory",
  durable: true,
  subscribe: async (_options: unknown, h: DeliveryHandler) => {
    handler = h;
    return {};
  },
} as unknown as Transport;

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";
const VALID = `00-${TRACE_ID}-${PARENT_ID}-01`;
const OTHER = "00-11111111111111111111111111111111-2222222222222222-01";

/** A delivery of an envelope whose fields come in the encoder's order (traceparent before payload). */
function delivery(traceparent: string, payload: Record<string, unknown> = {}): Delivery {
  const body = JSON.stringify({
    id: "m-1",
    event: "item.added",
    occurredAt: new Date(0).toISOString(),
    correlationId: "c-1",
    traceparent,
    attributes: {},
    payload,
  });
  const settle = async () => {};
  return {
    deliveryId: "1-0",
    topic: "item.added",
    owner: "shop",
    body,
    attempt: 1,
    waitedAttempts: 0,
    silentDeliveries: 0,
    deliveryCount: 1,
    replay: false,
    enqueuedAt: 0,
    firstDeliveredAt: 0,
    ageMs: () => 0,
    ack: settle,
    retry: settle,
    defer: settle,
    deadLetter: settle,
  } as unknown as Delivery;
}

/** The CONSUMER span of one delivery handled by the instrumented handler. */
async function consumerSpanOf(d: Delivery) {
  await handler!(d);
  const spans = exporter.getFinishedSpans().filter((s) => s.name === "process item.added");
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

beforeAll(async () => {
  initTracing({ service: "shop", env: {}, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  await instrumentTransport(capturing, { group: "audit" }).subscribe(
    { group: "audit", consumer: "audit-1", topics: [] } as never,
    async () => {},
  );
});

beforeEach(() => exporter.reset());

describe("the consumer span's parent", () => {
  it("is the envelope's valid traceparent: a child in the producer's trace", async () => {
    const span = await consumerSpanOf(delivery(VALID));
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(PARENT_ID);
  });

  it.each([
    ["all-zero trace id", `00-${"0".repeat(32)}-${PARENT_ID}-01`],
    ["all-zero parent id", `00-${TRACE_ID}-${"0".repeat(16)}-01`],
    ["uppercase hex", VALID.toUpperCase()],
    ["another version", `01-${TRACE_ID}-${PARENT_ID}-01`],
    ["empty (no trace)", ""],
  ])("is none for %s: a fresh root span", async (_, traceparent) => {
    const span = await consumerSpanOf(delivery(traceparent));
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);
  });

  it("is none for a malformed envelope traceparent, even with a valid one of that name in the payload", async () => {
    const span = await consumerSpanOf(delivery(VALID.toUpperCase(), { traceparent: OTHER }));
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(OTHER.slice(3, 35));
  });
});
