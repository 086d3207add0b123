import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { describe, expect, it } from "vitest";
import { createHttpServer } from "../http/server.js";
import { createLogger } from "./logger.js";
import { initTracing, tracingWanted } from "./tracing.js";

describe("tracingWanted", () => {
  it("is off by default, on with an OTLP endpoint, and the explicit switches win", () => {
    expect(tracingWanted({})).toBe(false);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://localhost:4318" })).toBe(true);
    expect(tracingWanted({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" })).toBe(true);
    expect(tracingWanted({ TRACING_ENABLED: "true" })).toBe(true);
    expect(tracingWanted({ TRACING_ENABLED: "false", OTEL_EXPORTER_OTLP_ENDPOINT: "http://x:4318" })).toBe(
      false,
    );
    expect(tracingWanted({ OTEL_SDK_DISABLED: "true", TRACING_ENABLED: "true" })).toBe(false);
  });
});

describe("an HTTP request with tracing on", () => {
  it("is a SERVER span, child of the caller's traceparent, and the handler's log lines carry its ids", async () => {
    const exporter = new InMemorySpanExporter();
    initTracing({ service: "test", env: {}, spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({
      service: "test",
      level: "info",
      destination: { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    });
    const app = createHttpServer();
    app.post("/things/:id", async (request) => {
      logger.info({ correlationId: "c-1" }, "handling");
      return { id: (request.params as { id: string }).id };
    });
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const res = await app.inject({
      method: "POST",
      url: "/things/7",
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, "content-type": "application/json" },
      payload: { a: 1 },
    });
    expect(res.statusCode).toBe(200);
    logger.info("outside any request");
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe("POST /things/:id");
    expect(span?.spanContext().traceId).toBe(traceId);
    expect(span?.parentSpanContext?.spanId).toBe("00f067aa0ba902b7");
    expect(span?.attributes).toMatchObject({ "http.route": "/things/:id", "http.response.status_code": 200 });
    expect(lines[0]).toMatchObject({
      msg: "handling",
      correlationId: "c-1",
      trace_id: traceId,
      span_id: span?.spanContext().spanId,
    });
    expect(lines[1]).not.toHaveProperty("trace_id");
    await app.close();
  });
});
