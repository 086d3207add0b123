/**
 * The OTLP protocol a process exports with (OTEL_EXPORTER_OTLP_PROTOCOL): `http/json` and
 * `http/protobuf` work, anything else stops the start with a one-line config error. Each test file
 * runs in its own process, so this one registers its own tracer provider (with the protobuf exporter).
 */
import { afterAll, describe, expect, it } from "vitest";
import { startOtlpReceiver } from "../../test-support/otlp-receiver.js";
import { waitFor } from "../../test-support/wait.js";
import { ConfigError, parseEnv, serviceEnvSchema } from "../runtime/config.js";
import { gatewayEnvSchema } from "../../gateway/config.js";
import { SpanKind, withSpan } from "./spans.js";
import { initTracing, otlpTraceProtocol } from "./tracing.js";

describe("otlpTraceProtocol", () => {
  it("is http/json by default, honours http/protobuf (the traces-specific variable first)", () => {
    expect(otlpTraceProtocol({})).toBe("http/json");
    expect(otlpTraceProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: "" })).toBe("http/json");
    expect(otlpTraceProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf" })).toBe("http/protobuf");
    expect(
      otlpTraceProtocol({
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      }),
    ).toBe("http/json");
  });

  it("refuses grpc and unknown values with a one-line INVALID_CONFIG error naming the variable", () => {
    for (const [variable, value] of [
      ["OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"],
      ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml"],
    ] as const) {
      const env = { [variable]: value };
      let error: unknown;
      try {
        otlpTraceProtocol(env);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).not.toContain("\n");
      expect(message).toContain(variable);
      expect(message).toContain(`"${value}"`);
      expect(message).toContain("http/protobuf");
      // The services' and the gateway's env schemas refuse it at start the same way.
      expect(() => parseEnv(serviceEnvSchema, env)).toThrow(new RegExp(`${variable}: .*http/protobuf`));
      expect(() => parseEnv(gatewayEnvSchema, env)).toThrow(ConfigError);
      expect(() => initTracing({ service: "bad", env: { ...env, TRACING_ENABLED: "true" } })).toThrow(
        ConfigError,
      );
    }
  });
});

describe("tracing with OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", () => {
  const saved = { ...process.env };
  afterAll(() => {
    process.env = saved;
  });

  it("exports spans as OTLP protobuf (application/x-protobuf) that a receiver decodes", async () => {
    const receiver = await startOtlpReceiver();
    try {
      // The exporter reads the standard variables from the process's environment.
      process.env.OTEL_EXPORTER_OTLP_ENDPOINT = receiver.url;
      process.env.OTEL_EXPORTER_OTLP_PROTOCOL = "http/protobuf";
      const tracing = initTracing({ service: "proto-test", env: process.env });
      expect(tracing).toMatchObject({ enabled: true, exporter: "otlp" });
      await withSpan(
        "publish thing.done",
        { kind: SpanKind.PRODUCER, attributes: { "messaging.system": "redis", attempt: 3, ok: true } },
        async () => {
          await withSpan("inner", {}, async () => {});
        },
      );
      await tracing.flush();
      const spans = await waitFor(() => (receiver.spans.length >= 2 ? receiver.spans : undefined), 20_000);
      expect(receiver.contentTypes).toContain("application/x-protobuf");
      expect(receiver.contentTypes).not.toContain("application/json");
      const outer = spans.find((s) => s.name === "publish thing.done")!;
      const inner = spans.find((s) => s.name === "inner")!;
      expect(outer).toMatchObject({
        service: "proto-test",
        kind: 4,
        attributes: { "messaging.system": "redis", attempt: 3, ok: true },
      });
      expect(outer.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(inner.traceId).toBe(outer.traceId);
      expect(inner.parentSpanId).toBe(outer.spanId);
      expect(outer.endNs).toBeGreaterThanOrEqual(outer.startNs);
      await tracing.shutdown();
    } finally {
      await receiver.close();
    }
  });
});
