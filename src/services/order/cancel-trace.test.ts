/**
 * break35 F6: a cancelled order's compensations were published under the cancel request's span, so
 * they formed a trace of their own, unlinked to the order's: `npm run trace <orderId>` showed no
 * refund, no release. They now join the order's trace, under an `order cancel` span linked to the
 * request's span (README "Tracing": compensations are in the order's trace).
 * Tracing on (in-memory exporter), the memory platform, the order service over real HTTP.
 */
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, expect, it } from "vitest";
import { initTracing } from "../../lib/observability/tracing.js";
import { createMemoryPlatform, type Platform } from "../../lib/runtime/platform.js";
import { waitFor } from "../../test-support/wait.js";
import { type OrderHarness, startOrderService } from "./test-harness.js";

const exporter = new InMemorySpanExporter();
const ORDER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CANCEL_TRACE = "0af7651916cd43dd8448eb211c80319c";
let platform: Platform;
let h: OrderHarness;

beforeAll(async () => {
  initTracing({ service: "order", env: {}, spanProcessors: [new SimpleSpanProcessor(exporter)] });
  platform = createMemoryPlatform();
  h = await startOrderService(platform, {}, { payment: "silent" });
});

afterAll(async () => {
  await h?.stop();
  await platform?.close();
});

it("publishes a cancel's compensations in the order's trace, linked to the cancel request's span", async () => {
  const orderId = await h.place(undefined, { traceparent: `00-${ORDER_TRACE}-00f067aa0ba902b7-01` });
  await h.waitForStatus(orderId, "reserved");
  const cancel = await h.request("POST", `/orders/${orderId}/cancel`, undefined, {
    traceparent: `00-${CANCEL_TRACE}-b7ad6b7169203331-01`,
  });
  expect(cancel.status).toBe(202);
  const spans = () => exporter.getFinishedSpans();
  const compensations = await waitFor(
    () => {
      const found = spans().filter((s) => /^publish order\.(compensation|cancelled)/.test(s.name));
      return found.length >= 3 ? found : undefined;
    },
    10_000,
    "the cancel's publish spans",
  );
  expect(compensations.map((s) => [s.name, s.spanContext().traceId])).toEqual(
    compensations.map((s) => [s.name, ORDER_TRACE]),
  );
  const request = spans().find((s) => s.name === "POST /orders/:id/cancel");
  expect(request?.spanContext().traceId).toBe(CANCEL_TRACE);
  const cancelSpan = spans().find((s) => s.name === "order cancel");
  expect(cancelSpan?.spanContext().traceId).toBe(ORDER_TRACE);
  expect(cancelSpan?.links.map((l) => l.context.spanId)).toEqual([request?.spanContext().spanId]);
  // Nothing the cancel published stayed in the request's trace.
  expect(
    spans().filter((s) => s.spanContext().traceId === CANCEL_TRACE && s.name.startsWith("publish")),
  ).toEqual([]);
});
