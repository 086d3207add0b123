/**
 * Renders the Grafana dashboard's panels (ops/grafana/dashboards/ordersaga.json: each panel's
 * title and PromQL `expr`s, read from the JSON) as static HTML line charts, from a real Prometheus's
 * `/api/v1/query_range` answers. Used for the README's screenshot because Grafana cannot run on this
 * project's build machine; with Docker, `docker compose --profile observability up` serves the real
 * dashboard in Grafana.
 *
 *   npx tsx scripts/render-dashboard.ts <prometheus-url> <start-epoch-s> <end-epoch-s> <out.html>
 */
import { readFileSync, writeFileSync } from "node:fs";

interface DashboardJson {
  title: string;
  panels: { title: string; targets?: { expr: string; legendFormat?: string }[] }[];
}

export interface Series {
  label: string;
  points: [number, number][];
}

export interface Panel {
  title: string;
  exprs: string[];
  series: Series[];
}

const DASHBOARD = new URL("../ops/grafana/dashboards/ordersaga.json", import.meta.url);

/** `{{route}} {{status}}` filled from the series' labels, else the labels themselves. */
function labelOf(metric: Record<string, string>, format: string | undefined, expr: string): string {
  if (format) return format.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, k: string) => metric[k] ?? "");
  const entries = Object.entries(metric).filter(([k]) => k !== "__name__");
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(", ") : (metric.__name__ ?? expr);
}

export async function queryPanels(
  prometheus: string,
  start: number,
  end: number,
  step = 5,
): Promise<Panel[]> {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as DashboardJson;
  const panels: Panel[] = [];
  for (const panel of dashboard.panels) {
    const series: Series[] = [];
    for (const target of panel.targets ?? []) {
      const url = new URL("/api/v1/query_range", prometheus);
      url.search = new URLSearchParams({
        query: target.expr,
        start: String(start),
        end: String(end),
        step: String(step),
      }).toString();
      const res = await fetch(url);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { result: { metric: Record<string, string>; values: [number, string][] }[] };
      };
      if (body.status !== "success") throw new Error(`${target.expr}: ${body.error ?? res.status}`);
      for (const r of body.data?.result ?? []) {
        series.push({
          label: labelOf(r.metric, target.legendFormat, target.expr),
          points: r.values
            .map(([t, v]) => [t, Number(v)] as [number, number])
            .filter(([, v]) => Number.isFinite(v)),
        });
      }
    }
    panels.push({ title: panel.title, exprs: (panel.targets ?? []).map((t) => t.expr), series });
  }
  return panels;
}

const PALETTE = [
  "#5470c6",
  "#91cc75",
  "#fac858",
  "#ee6666",
  "#73c0de",
  "#3ba272",
  "#fc8452",
  "#9a60b4",
  "#ea7ccc",
];
const escape = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
const fmt = (v: number) =>
  Math.abs(v) >= 100
    ? v.toFixed(0)
    : Math.abs(v) >= 1
      ? v.toFixed(2)
      : Math.abs(v) >= 0.01
        ? v.toFixed(3)
        : v.toPrecision(2);

function chart(panel: Panel, start: number, end: number): string {
  const W = 300;
  const H = 130;
  const pad = { l: 44, r: 6, t: 6, b: 18 };
  // The busiest series first (a panel may have dozens: the legend lists the top ones).
  const series = [...panel.series]
    .sort((a, b) => Math.max(0, ...b.points.map((p) => p[1])) - Math.max(0, ...a.points.map((p) => p[1])))
    .slice(0, 6);
  const values = series.flatMap((s) => s.points.map((p) => p[1]));
  const max = Math.max(1e-9, ...values);
  const x = (t: number) => pad.l + ((t - start) / (end - start)) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - (v / max) * (H - pad.t - pad.b);
  const lines = series
    .map((s, i) => {
      const d = s.points.map(([t, v], j) => `${j ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join("");
      return `<path d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5"/>`;
    })
    .join("");
  const grid = [0, 0.5, 1]
    .map(
      (f) =>
        `<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(max * f)}" y2="${y(max * f)}" stroke="#333"/><text x="${pad.l - 4}" y="${y(max * f) + 3}" text-anchor="end">${fmt(max * f)}</text>`,
    )
    .join("");
  const minutes = (end - start) / 60;
  const axis = `<text x="${pad.l}" y="${H - 4}">-${minutes.toFixed(0)} min</text><text x="${W - pad.r}" y="${H - 4}" text-anchor="end">now</text>`;
  const legend = series.length
    ? series
        .map(
          (s, i) =>
            `<div><b style="color:${PALETTE[i % PALETTE.length]}">━</b> ${escape(s.label.length > 52 ? `${s.label.slice(0, 51)}…` : s.label)}</div>`,
        )
        .join("") +
      (panel.series.length > series.length
        ? `<div class="more">+${panel.series.length - series.length} more series</div>`
        : "")
    : `<div class="more">no data (nothing happened of this kind during the run)</div>`;
  return `<div class="panel"><h2>${escape(panel.title)}</h2><svg width="${W}" height="${H}">${grid}${axis}${lines}</svg><div class="legend">${legend}</div></div>`;
}

export function renderDashboardHtml(
  panels: readonly Panel[],
  start: number,
  end: number,
  caption: string,
): string {
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{font:11px system-ui,sans-serif;margin:10px;background:#111217;color:#ccc;width:1260px}
h1{font-size:15px;margin:0 0 2px;color:#eee} p{margin:0 0 8px;color:#999}
.grid{display:grid;grid-template-columns:repeat(4,308px);gap:6px}
.panel{background:#181b1f;border:1px solid #2a2d33;border-radius:3px;padding:4px 5px;height:222px;overflow:hidden}
h2{font-size:12px;margin:0 0 2px;color:#ddd;font-weight:600} svg text{fill:#888;font-size:9px}
.legend{font-size:9.5px;line-height:11px;white-space:nowrap;overflow:hidden} .more{color:#777}
</style></head><body><h1>${escape(caption)}</h1>
<p>${new Date(start * 1000).toISOString()} – ${new Date(end * 1000).toISOString()} · every panel's PromQL from ops/grafana/dashboards/ordersaga.json, evaluated by Prometheus (query_range, step 5 s)</p>
<div class="grid">${panels.map((p) => chart(p, start, end)).join("")}</div></body></html>`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [prometheus, start, end, output] = process.argv.slice(2);
  if (!prometheus || !start || !end || !output) {
    process.stderr.write(
      "usage: npx tsx scripts/render-dashboard.ts <prometheus-url> <start-s> <end-s> <out.html>\n",
    );
    process.exit(2);
  }
  const panels = await queryPanels(prometheus, Number(start), Number(end));
  writeFileSync(output, renderDashboardHtml(panels, Number(start), Number(end), "Ordersaga"));
}
