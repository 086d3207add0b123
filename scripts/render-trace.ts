/**
 * Renders one trace as a static HTML waterfall (the shape a tracing UI such as Jaeger shows): one
 * row per span, indented under its parent, a bar from its start to its end on the trace's time
 * axis, coloured by service. Input: spans as the test OTLP receiver keeps them
 * (src/test-support/otlp-receiver.ts), e.g. captured from a real run by
 * scripts/observability-screenshots.ts. Used for the README's screenshot because no tracing UI can
 * run on this project's build machine; with Docker, `docker compose --profile observability up`
 * gives the real Jaeger UI.
 *
 *   npx tsx scripts/render-trace.ts <spans.json> <out.html>
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { ReceivedSpan } from "../src/test-support/otlp-receiver.js";

const KIND = ["", "internal", "server", "client", "producer", "consumer"];
const COLOURS: Record<string, string> = {
  gateway: "#5470c6",
  order: "#91cc75",
  user: "#fac858",
  inventory: "#ee6666",
  payment: "#73c0de",
  shipping: "#3ba272",
  notification: "#fc8452",
};

const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** Spans in depth-first order (children by start time), each with its depth. */
function ordered(spans: readonly ReceivedSpan[]): { span: ReceivedSpan; depth: number }[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, ReceivedSpan[]>();
  const roots: ReceivedSpan[] = [];
  for (const span of spans) {
    if (span.parentSpanId && ids.has(span.parentSpanId)) {
      const list = children.get(span.parentSpanId) ?? [];
      list.push(span);
      children.set(span.parentSpanId, list);
    } else roots.push(span);
  }
  const byStart = (a: ReceivedSpan, b: ReceivedSpan) =>
    a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0;
  const out: { span: ReceivedSpan; depth: number }[] = [];
  const visit = (span: ReceivedSpan, depth: number) => {
    out.push({ span, depth });
    for (const child of (children.get(span.spanId) ?? []).sort(byStart)) visit(child, depth + 1);
  };
  for (const root of roots.sort(byStart)) visit(root, 0);
  return out;
}

export function renderTraceHtml(spans: readonly ReceivedSpan[], caption: string): string {
  const rows = ordered(spans);
  const start = rows.reduce((m, r) => (r.span.startNs < m ? r.span.startNs : m), rows[0]!.span.startNs);
  const end = rows.reduce((m, r) => (r.span.endNs > m ? r.span.endNs : m), rows[0]!.span.endNs);
  const totalMs = Number(end - start) / 1e6;
  const pct = (ns: bigint) => (Number(ns - start) / 1e6 / totalMs) * 100;
  const services = [...new Set(spans.map((s) => s.service))].sort();
  const body = rows
    .map(({ span, depth }) => {
      const left = pct(span.startNs);
      const width = Math.max(0.15, pct(span.endNs) - left);
      const ms = Number(span.endNs - span.startNs) / 1e6;
      const colour = COLOURS[span.service] ?? "#999";
      const error = span.status === 2 ? ' <span class="err">error</span>' : "";
      return `<tr><td class="name" style="padding-left:${6 + depth * 12}px"><b style="color:${colour}">${escape(span.service)}</b> ${escape(span.name)} <span class="kind">${KIND[span.kind] ?? ""}</span>${error}</td><td class="bar"><div style="left:${left}%;width:${width}%;background:${colour}"></div><span class="ms" style="left:${Math.min(left + width, 92)}%">${ms.toFixed(ms < 10 ? 2 : 1)} ms</span></td></tr>`;
    })
    .join("\n");
  const ticks = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => `<span style="left:${f * 100}%">${((totalMs * f) / 1000).toFixed(2)} s</span>`)
    .join("");
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{font:12px system-ui,sans-serif;margin:12px;color:#222;width:1260px}
h1{font-size:15px;margin:0 0 4px} p{margin:0 0 8px;color:#555}
table{border-collapse:collapse;width:100%;table-layout:fixed}
td{border-bottom:1px solid #eee;padding:1px 0;white-space:nowrap;overflow:hidden}
td.name{width:520px;text-overflow:ellipsis} td.bar{position:relative;height:15px}
td.bar div{position:absolute;top:3px;height:10px;border-radius:2px}
.ms{position:absolute;top:1px;font-size:10px;color:#555;padding-left:4px}
.kind{color:#888;font-size:10px} .err{color:#c00;font-weight:bold}
.axis{position:relative;height:14px;margin-left:520px;color:#666;font-size:10px}
.axis span{position:absolute} .legend b{margin-right:10px}
</style></head><body>
<h1>${escape(caption)}</h1>
<p>${rows.length} spans, ${services.length} services, ${(totalMs / 1000).toFixed(2)} s, trace ${escape(spans[0]!.traceId)} · <span class="legend">${services
    .map((s) => `<b style="color:${COLOURS[s] ?? "#999"}">■ ${escape(s)}</b>`)
    .join("")}</span></p>
<div class="axis">${ticks}</div>
<table>${body}</table>
</body></html>`;
}

/** JSON can't hold bigint: the capture writes startNs/endNs as strings. */
export function spansFromJson(text: string): ReceivedSpan[] {
  return (
    JSON.parse(text) as (Omit<ReceivedSpan, "startNs" | "endNs"> & { startNs: string; endNs: string })[]
  ).map((s) => ({ ...s, startNs: BigInt(s.startNs), endNs: BigInt(s.endNs) }));
}

export function spansToJson(spans: readonly ReceivedSpan[]): string {
  return JSON.stringify(
    spans.map((s) => ({ ...s, startNs: String(s.startNs), endNs: String(s.endNs) })),
    null,
    1,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    process.stderr.write("usage: npx tsx scripts/render-trace.ts <spans.json> <out.html>\n");
    process.exit(2);
  }
  writeFileSync(output, renderTraceHtml(spansFromJson(readFileSync(input, "utf8")), `Trace of ${input}`));
}
