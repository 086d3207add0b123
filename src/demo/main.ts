/**
 * `npm run demo`: the spec's five scenarios through the gateway's HTTP API, with a readable
 * timeline. Runs against, in order of precedence: `--gateway URL` (a running system), the
 * multi-process system over Redis when REDIS_URL is set, or the embedded in-memory system.
 * Exits non-zero if any scenario did not end as expected.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { startEmbeddedSystem } from "../system/embedded.js";
import { launch, planProcesses } from "../system/launcher.js";
import { createApiClient } from "./client.js";
import { runScenarios } from "./scenarios.js";

const { values } = parseArgs({ options: { gateway: { type: "string" }, timeout: { type: "string" } } });

async function waitForGateway(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const needed = ["user", "order", "inventory", "payment", "shipping", "notification"];
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/services`);
      if (res.ok) {
        const body = (await res.json()) as { services: { name: string; instances: unknown[] }[] };
        if (needed.every((n) => body.services.some((s) => s.name === n && s.instances.length > 0))) return;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`gateway at ${url} did not come up with every service within ${timeoutMs} ms`);
}

async function target(): Promise<{ url: string; mode: string; stop: () => Promise<void> }> {
  if (values.gateway)
    return {
      url: values.gateway.replace(/\/$/, ""),
      mode: `gateway ${values.gateway}`,
      stop: async () => {},
    };
  if (process.env.REDIS_URL) {
    const port = Number(process.env.GATEWAY_PORT ?? 8080);
    const system = launch(
      planProcesses({ redisUrl: process.env.REDIS_URL, gatewayPort: port, logLevel: "warn" }),
      () => {},
    );
    const url = `http://127.0.0.1:${port}`;
    await waitForGateway(url, 60_000);
    return {
      url,
      mode: `every service as its own process over ${process.env.REDIS_URL}`,
      stop: () => system.stop(),
    };
  }
  const system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: process.env.LOG_LEVEL ?? "warn" });
  return {
    url: system.gatewayUrl,
    mode: "embedded (one process, in-memory bus and stores)",
    stop: () => system.stop(),
  };
}

const started = Date.now();
const system = await target();
console.log(`Ordersaga demo: ${system.mode}\nGateway: ${system.url}\n`);
let failed = 0;
try {
  const results = await runScenarios({
    api: createApiClient(system.url),
    runId: randomUUID().slice(0, 8),
    timeoutMs: Number(values.timeout ?? 15_000),
  });
  for (const result of results) {
    console.log(`${result.ok ? "PASS" : "FAIL"}  ${result.name}`);
    for (const line of result.lines) console.log(`  ${line}`);
    for (const failure of result.failures)
      if (!result.lines.some((l) => l.includes(failure))) console.log(`  ✘ ${failure}`);
    console.log("");
    if (!result.ok) failed++;
  }
  console.log(
    `${results.length - failed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
} finally {
  await system.stop();
}
process.exit(failed === 0 ? 0 : 1);
