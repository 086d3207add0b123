/**
 * The gateway is the trust boundary of tracing (break13 F1): a client's `traceparent` must not pick
 * the order's trace nor switch sampling off. Each request starts a new trace (the client's context
 * kept as a span link), and upstream gets the gateway's own context, never the client's header.
 */
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initTracing } from "../lib/observability/tracing.js";
import { startTestGateway, startTestUpstream, type TestGateway, type TestUpstream } from "./test-upstream.js";

const exporter = new InMemorySpanExporter();
let gw: TestGateway;
let orders: TestUpstream;

const clientTrace = "11111111111111111111111111111111";
const order = { userId: "u-1", items: [{ productId: "p-1", quantity: 1 }], payment: { token: "tok_ok" } };

beforeAll(async () => {
  initTracing({ service: "gateway", env: {}, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  gw = await startTestGateway();
  orders = await startTestUpstream(gw.registry, "order", "order-1", () => ({
    status: 202,
    body: { orderId: "o-1", status: "pending" },
  }));
});

afterAll(async () => {
  await orders?.close();
  await gw?.stop();
});

async function place(traceparent: string): Promise<{ server: ReadableSpan; upstream: string | undefined }> {
  exporter.reset();
  const res = await fetch(`${gw.url}/orders`, {
    method: "POST",
    headers: { "content-type": "application/json", traceparent, tracestate: "vendor=client" },
    body: JSON.stringify(order),
  });
  expect(res.status).toBe(202);
  const server = exporter
    .getFinishedSpans()
    .find((s) => s.name === "POST /orders" && s.attributes["http.route"] === "/orders");
  expect(server, "the gateway's SERVER span was exported").toBeDefined();
  const header = orders.hits.at(-1)?.headers.traceparent;
  return { server: server!, upstream: typeof header === "string" ? header : undefined };
}

describe("a client's traceparent at the gateway", () => {
  it("does not switch tracing off: a sampled-off header still yields a recorded trace of the gateway's own", async () => {
    const { server, upstream } = await place(`00-${clientTrace}-2222222222222222-00`);
    const own = server.spanContext().traceId;
    expect(own).not.toBe(clientTrace);
    expect(server.spanContext().traceFlags & 1, "sampled").toBe(1);
    expect(server.parentSpanContext?.spanId).toBeUndefined();
    // The client's context is kept as a link, for whoever wants to join the two.
    expect(server.links.map((l) => l.context.traceId)).toEqual([clientTrace]);
    // Upstream continues the gateway's trace (its CLIENT span), sampled, not the client's.
    expect(upstream).toMatch(new RegExp(`^00-${own}-[0-9a-f]{16}-01$`));
    expect(orders.hits.at(-1)?.headers.tracestate).toBeUndefined();
  });

  it("does not merge orders: two requests with the same header are two traces", async () => {
    const header = `00-${clientTrace}-3333333333333333-01`;
    const first = await place(header);
    const second = await place(header);
    expect(first.server.spanContext().traceId).not.toBe(second.server.spanContext().traceId);
    for (const { server, upstream } of [first, second]) {
      expect(server.spanContext().traceId).not.toBe(clientTrace);
      expect(upstream).not.toContain(clientTrace);
    }
  });

  it("starts a new trace without a link for a malformed header", async () => {
    const { server } = await place("00-00000000000000000000000000000000-2222222222222222-01");
    expect(server.links).toEqual([]);
    expect(server.parentSpanContext?.spanId).toBeUndefined();
  });
});
