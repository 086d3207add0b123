/**
 * Takes the README's observability screenshots from a real run, on a machine without Docker,
 * Grafana or Jaeger: a private redis-server, every service and the gateway as its own process with
 * tracing on (OTLP/HTTP to the test receiver, src/test-support/otlp-receiver.ts), a real Prometheus
 * (Debian's `prometheus`) scraping every /metrics and loading ops/prometheus/alerts.yml, and a few
 * minutes of orders (completed and compensated). Then:
 *   - docs/img/order-trace.png: one delivered order's spans, as received, drawn by render-trace.ts;
 *   - docs/img/dashboard.png: the Grafana dashboard's PromQL, evaluated by that Prometheus over the
 *     run, drawn by render-dashboard.ts;
 * both screenshotted by headless Chromium (playwright-core; `apt-get install chromium`).
 *
 *   npx tsx scripts/observability-screenshots.ts [--seconds 150]
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { createApiClient } from "../src/demo/client.js";
import { launch, planProcesses } from "../src/system/launcher.js";
import { startOtlpReceiver } from "../src/test-support/otlp-receiver.js";
import { freePort, startRedisServer } from "../src/test-support/redis-server.js";
import { sleep, waitFor } from "../src/test-support/wait.js";
import { queryPanels, renderDashboardHtml } from "./render-dashboard.js";
import { renderTraceHtml, spansToJson } from "./render-trace.js";

const root = fileURLToPath(new URL("../", import.meta.url));
const seconds = Number(process.argv[process.argv.indexOf("--seconds") + 1]) || 150;
const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

const log = (msg: string) => process.stdout.write(`[screenshots] ${msg}\n`);

const work = mkdtempSync(join(tmpdir(), "ordersaga-shots-"));
const redis = await startRedisServer({ appendfsync: "everysec" });
const receiver = await startOtlpReceiver();
const gatewayPort = await freePort();
const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
const system = launch(
  planProcesses({
    redisUrl: redis.url,
    gatewayPort,
    anyPort: true,
    logLevel: "warn",
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: "500",
      HEARTBEAT_INTERVAL_MS: "1000",
    },
  }),
  () => {},
);
let prometheus: ChildProcess | undefined;
try {
  const urls = await system.ready;
  log(`system up: ${[...urls.entries()].map(([k, v]) => `${k} ${v}`).join(", ")}`);
  const api = createApiClient(gatewayUrl);
  await waitFor(
    async () =>
      (await fetch(`${gatewayUrl}/orders/unknown-order`)).status === 404 &&
      (await fetch(`${gatewayUrl}/users/unknown-user`)).status === 404 &&
      (await fetch(`${gatewayUrl}/inventory`)).status === 200,
    120_000,
    "the gateway reaching the services",
    250,
  );

  // Prometheus scraping every process (jobs named as in ops/prometheus/prometheus.yml).
  const promPort = await freePort();
  const hostPort = (url: string) => new URL(url).host;
  const services = [...urls.entries()].filter(([name]) => name !== "gateway").map(([, url]) => hostPort(url));
  writeFileSync(
    join(work, "prometheus.yml"),
    `global: { scrape_interval: 2s, evaluation_interval: 5s }
rule_files: ["${join(root, "ops/prometheus/alerts.yml")}"]
scrape_configs:
  - job_name: ordersaga-gateway
    static_configs: [{ targets: ["${hostPort(gatewayUrl)}"] }]
  - job_name: ordersaga-services
    static_configs: [{ targets: ${JSON.stringify(services)} }]
`,
  );
  prometheus = spawn(
    "prometheus",
    [
      `--config.file=${join(work, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(work, "data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: "ignore" },
  );
  const promUrl = `http://127.0.0.1:${promPort}`;
  await waitFor(async () => (await fetch(`${promUrl}/-/ready`)).ok, 60_000, "prometheus ready", 250);
  log(`prometheus ${promUrl} (pid ${prometheus.pid})`);
  const start = Math.floor(Date.now() / 1000);

  const user = await api.post<{ id: string }>("/users", {
    email: `shots-${randomUUID()}@example.com`,
    name: "Ada",
  });
  const productId = `lamp-${randomUUID().slice(0, 6)}`;
  await api.post("/inventory", { productId, name: "Desk lamp", price: 2_500, quantity: 100_000 });
  const place = (token: string) =>
    api.post<{ orderId: string }>("/orders", {
      userId: user.body.id,
      items: [{ productId, quantity: 1 }],
      payment: { token },
    });

  // Load: 4 clients, about one order in six declined by the payment provider (compensated).
  let orders = 0;
  const until = Date.now() + seconds * 1000;
  const client = async () => {
    while (Date.now() < until) {
      await place(Math.random() < 0.17 ? "tok_decline" : "tok_ok").catch(() => undefined);
      orders++;
      await sleep(150);
    }
  };
  await Promise.all([client(), client(), client(), client()]);
  log(`${orders} orders placed over ${seconds} s`);
  // The trace drawn: the first order (by start) whose trace reached its delivery, complete.
  const complete = (traceId: string) => {
    const spans = receiver.spans.filter((s) => s.traceId === traceId);
    const ids = new Set(spans.map((s) => s.spanId));
    const roots = spans.filter((s) => !s.parentSpanId || !ids.has(s.parentSpanId));
    const delivered = spans.some(
      (s) => s.service === "order" && s.name === "process shipping.shipment.delivered",
    );
    return delivered && roots.length === 1 && roots[0]!.name === "POST /orders" ? spans : undefined;
  };
  // Deliveries are due 5 s after completion and spans are batched: on a loaded machine, wait.
  const spans = await waitFor(
    () =>
      receiver.spans
        .filter((s) => s.service === "gateway" && s.name === "POST /orders")
        .sort((x, y) => (x.startNs < y.startNs ? -1 : 1))
        .map((c) => complete(c.traceId))
        .find((t) => t !== undefined),
    180_000,
    "a complete trace of a delivered order",
    1_000,
  );
  const orderId = String(
    spans.find((s) => s.attributes["ordersaga.order_id"])?.attributes["ordersaga.order_id"] ?? "",
  );
  log(`trace ${spans[0]!.traceId}: ${spans.length} spans`);
  await sleep(15_000); // the last scrapes and rate windows
  const end = Math.floor(Date.now() / 1000);

  mkdirSync(join(root, "docs/img"), { recursive: true });
  writeFileSync(join(work, "trace.json"), spansToJson(spans));
  writeFileSync(
    join(work, "trace.html"),
    renderTraceHtml(
      spans,
      `One order's trace${orderId ? ` (order ${orderId})` : ""}, from a real run: 7 processes over Redis`,
    ),
  );
  const panels = await queryPanels(promUrl, start, end);
  writeFileSync(
    join(work, "dashboard.html"),
    renderDashboardHtml(
      panels,
      start,
      end,
      `Ordersaga dashboard, real run: ${orders} orders in ${seconds} s, 7 processes over Redis, scraped by Prometheus`,
    ),
  );
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1290, height: 800 } });
    for (const [html, png] of [
      ["trace.html", "order-trace.png"],
      ["dashboard.html", "dashboard.png"],
    ] as const) {
      await page.goto(`file://${join(work, html)}`);
      await page.screenshot({ path: join(root, "docs/img", png), fullPage: true });
      log(`docs/img/${png}`);
    }
  } finally {
    await browser.close();
  }
  log(`inputs kept in ${work}`);
} finally {
  if (prometheus?.pid) prometheus.kill("SIGTERM");
  await system.stop();
  await receiver.close();
  await redis.stop();
  if (process.env.KEEP_WORK !== "1") rmSync(join(work, "data"), { recursive: true, force: true });
}
