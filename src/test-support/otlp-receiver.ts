/**
 * A tiny OTLP/HTTP trace receiver for tests: accepts `POST /v1/traces` with the JSON encoding
 * (what `@opentelemetry/exporter-trace-otlp-http` sends: the `http/json` protocol) or the protobuf
 * one (`application/x-protobuf`, from `@opentelemetry/exporter-trace-otlp-proto`: `http/protobuf`,
 * decoded here by a small wire-format reader of its own, not by the exporter's code) and keeps
 * every span, flattened with its resource's `service.name`.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  service: string;
  attributes: Record<string, string | number | boolean>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: number;
  startNs: bigint;
  endNs: bigint;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
  status?: { code?: number };
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
}
interface OtlpRequest {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: OtlpSpan[] }[];
  }[];
}

function valueOf(v: OtlpValue): string | number | boolean {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  return v.boolValue ?? "";
}

const attributesOf = (list: OtlpAttribute[] = []) =>
  Object.fromEntries(list.map((a) => [a.key, valueOf(a.value)]));

/** One protobuf field: its number, and its value (a varint or fixed number, or the bytes). */
interface WireField {
  field: number;
  value: bigint | Buffer;
}

/** The fields of one protobuf message, in order (wire types 0, 1, 2 and 5). */
function wireFields(buf: Buffer): WireField[] {
  const out: WireField[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      if (byte === undefined) throw new Error("truncated protobuf varint");
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ field, value: varint() });
    else if (wire === 1) {
      out.push({ field, value: buf.readBigUInt64LE(pos) });
      pos += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      out.push({ field, value: buf.subarray(pos, pos + length) });
      pos += length;
    } else if (wire === 5) {
      out.push({ field, value: BigInt(buf.readUInt32LE(pos)) });
      pos += 4;
    } else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
  return out;
}

const bytesOf = (fields: WireField[], n: number): Buffer[] =>
  fields.filter((f) => f.field === n && Buffer.isBuffer(f.value)).map((f) => f.value as Buffer);
const numberOf = (fields: WireField[], n: number): bigint | undefined => {
  const found = fields.find((f) => f.field === n && typeof f.value === "bigint");
  return found?.value as bigint | undefined;
};

/** AnyValue: 1 string, 2 bool, 3 int64, 4 double (arrays, maps and bytes are not needed here). */
function protoAttributes(list: Buffer[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const fields = wireFields(kv);
    const key = bytesOf(fields, 1)[0]?.toString("utf8") ?? "";
    const value = wireFields(bytesOf(fields, 2)[0] ?? Buffer.alloc(0))[0];
    if (!value) continue;
    if (value.field === 1 && Buffer.isBuffer(value.value)) out[key] = value.value.toString("utf8");
    else if (value.field === 2) out[key] = value.value === 1n;
    else if (value.field === 3) out[key] = Number(BigInt.asIntN(64, value.value as bigint));
    else if (value.field === 4) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(value.value as bigint);
      out[key] = b.readDoubleLE(0);
    }
  }
  return out;
}

/** ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1) to flat spans. */
function protoSpans(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of bytesOf(wireFields(body), 1)) {
    const rsFields = wireFields(rs);
    const resource = wireFields(bytesOf(rsFields, 1)[0] ?? Buffer.alloc(0));
    const service = String(protoAttributes(bytesOf(resource, 1))["service.name"] ?? "");
    for (const ss of bytesOf(rsFields, 2)) {
      for (const raw of bytesOf(wireFields(ss), 2)) {
        const f = wireFields(raw);
        const parent = bytesOf(f, 4)[0];
        const status = wireFields(bytesOf(f, 15)[0] ?? Buffer.alloc(0));
        spans.push({
          traceId: bytesOf(f, 1)[0]?.toString("hex") ?? "",
          spanId: bytesOf(f, 2)[0]?.toString("hex") ?? "",
          parentSpanId: parent && parent.length > 0 ? parent.toString("hex") : undefined,
          name: bytesOf(f, 5)[0]?.toString("utf8") ?? "",
          kind: Number(numberOf(f, 6) ?? 0n),
          service,
          attributes: protoAttributes(bytesOf(f, 9)),
          status: Number(numberOf(status, 3) ?? 0n),
          startNs: numberOf(f, 7) ?? 0n,
          endNs: numberOf(f, 8) ?? 0n,
        });
      }
    }
  }
  return spans;
}

function jsonSpans(body: OtlpRequest): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = String(attributesOf(rs.resource?.attributes)["service.name"] ?? "");
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId || undefined,
          name: s.name,
          kind: s.kind,
          service,
          attributes: attributesOf(s.attributes),
          status: s.status?.code ?? 0,
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
        });
      }
    }
  }
  return spans;
}

export interface OtlpReceiver {
  /** The base URL to put in OTEL_EXPORTER_OTLP_ENDPOINT. */
  url: string;
  spans: ReceivedSpan[];
  /** Export requests received (any signal). */
  requests: number;
  /** Content types of the trace export requests, in order (`application/json`, `application/x-protobuf`). */
  contentTypes: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const receiver: Omit<OtlpReceiver, "url" | "close"> = { spans: [], requests: 0, contentTypes: [] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      receiver.requests++;
      if (req.url === "/v1/traces" && req.method === "POST") {
        const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim();
        receiver.contentTypes.push(type);
        const body = Buffer.concat(chunks);
        const spans =
          type === "application/x-protobuf"
            ? protoSpans(body)
            : jsonSpans(JSON.parse(body.toString("utf8")) as OtlpRequest);
        receiver.spans.push(...spans);
        if (type === "application/x-protobuf") {
          // An empty ExportTraceServiceResponse.
          res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
          return;
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }) as OtlpReceiver;
}
