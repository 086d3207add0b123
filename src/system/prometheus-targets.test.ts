/**
 * newuser13 F6: the file_sd targets come from `GET /services`, so an extra instance on a free port
 * is scraped like the first one.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { targetGroups, writeTargetFile } from "./prometheus-targets.js";

const dir = mkdtempSync(join(tmpdir(), "ordersaga-targets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const listing = {
  services: [
    { name: "gateway", instances: [{ metricsUrl: "http://127.0.0.1:8080/metrics" }] },
    { name: "inventory", instances: [{ metricsUrl: "http://127.0.0.1:3003/metrics" }] },
    {
      name: "order",
      instances: [
        { metricsUrl: "http://127.0.0.1:3002/metrics" },
        { metricsUrl: "http://127.0.0.1:36373/metrics" },
      ],
    },
    { name: "user", instances: [{ metricsUrl: "http://[::1]:3001/metrics" }] },
  ],
};

describe("Prometheus targets from GET /services", () => {
  it("lists every service instance, extra ones on free ports included, not the gateway, no service label", () => {
    expect(targetGroups(listing)).toEqual([
      { targets: ["127.0.0.1:3002", "127.0.0.1:3003", "127.0.0.1:36373", "[::1]:3001"], labels: {} },
    ]);
  });

  it("no instance: no group (Prometheus scrapes nothing rather than a made-up target)", () => {
    expect(targetGroups({ services: [] })).toEqual([]);
  });

  it("writes the file whole, in file_sd's JSON, leaving no temporary file", () => {
    const file = join(dir, "targets.json");
    writeTargetFile(file, targetGroups(listing));
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(targetGroups(listing));
    expect(readdirSync(dir)).toEqual(["targets.json"]);
  });
});
