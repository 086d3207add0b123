/**
 * Every metric name the README and docs/ give is one the system exports (newuser11 F9: the Node
 * process series were named `process_*`, `nodejs_*`, without the `ordersaga_` prefix they carry, so
 * PromQL written from the README found nothing), and every series the system exports is named there.
 * The names exported: the `# HELP` lines of the embedded gateway's /metrics, which holds every
 * service's series and the Node process series.
 */
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const readme = read("README.md");
const docs = [
  readme,
  ...readdirSync(new URL("../../docs/", import.meta.url))
    .filter((file) => file.endsWith(".md"))
    .map((file) => read(`docs/${file}`)),
].join("\n");

/** The README's list of series, written without the prefix it states once. */
const listStart = readme.indexOf("**Metrics** (all prefixed `ordersaga_`");
const metricsList = readme.slice(listStart, readme.indexOf("The `metrics.*` events", listStart));
/** Backticked words of that list that name a series rather than a label or a value. */
const SERIES_SUFFIX = /_(total|seconds|messages|pending|state|connections|parked|bytes)$/;
/**
 * Exported by the gateway over Redis only (its reads of Redis's `INFO memory`), so not by the
 * embedded system read here: src/gateway/redis-memory.redis.test.ts checks them on a Redis gateway's
 * /metrics, src/system/observability.multiprocess.test.ts in a running system's.
 */
const OVER_REDIS_ONLY = new Set(["ordersaga_redis_memory_used_bytes", "ordersaga_redis_maxmemory_bytes"]);

let system: EmbeddedSystem;
let exported: Set<string>;
beforeAll(async () => {
  system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
  const text = await (await fetch(`${system.gatewayUrl}/metrics`)).text();
  exported = new Set([...text.matchAll(/^# HELP (\S+)/gm)].map((m) => m[1] ?? ""));
}, 60_000);
afterAll(async () => {
  await system?.stop();
});

const exists = (name: string) =>
  OVER_REDIS_ONLY.has(name) ||
  (name.endsWith("*") ? [...exported].some((e) => e.startsWith(name.slice(0, -1))) : exported.has(name));

describe("metric names in the README and docs/", () => {
  it("finds the list of series", () => {
    expect(listStart).toBeGreaterThan(0);
    expect(metricsList).toContain("`events_processed_total`");
  });

  it("every name written in full (`ordersaga_...`, `process_...`, `nodejs_...`) is exported", () => {
    const named = [...docs.matchAll(/`((?:ordersaga|process|nodejs)_[a-z0-9_]*\*?)(?:\{[^`]*\})?`/g)].map(
      (m) => m[1] ?? "",
    );
    expect(named.length).toBeGreaterThan(5);
    expect(named.filter((name) => name !== "ordersaga_" && !exists(name))).toEqual([]);
  });

  it("every series of the list is exported with the prefix", () => {
    const listed = [...metricsList.matchAll(/`([a-z][a-z0-9_]*)`/g)]
      .map((m) => m[1] ?? "")
      .filter((word) => SERIES_SUFFIX.test(word));
    expect(listed.length).toBeGreaterThan(20);
    expect(listed.filter((name) => !exists(`ordersaga_${name}`))).toEqual([]);
  });

  it("every series the system exports is named (the Node process series as a family)", () => {
    const named = (name: string) =>
      docs.includes(`\`${name}`) || metricsList.includes(`\`${name.slice("ordersaga_".length)}\``);
    const own = [...exported].filter(
      (name) => !name.startsWith("ordersaga_process_") && !name.startsWith("ordersaga_nodejs_"),
    );
    expect(own.filter((name) => !named(name))).toEqual([]);
  });
});
