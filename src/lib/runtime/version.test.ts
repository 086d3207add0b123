import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedSystem, startEmbeddedSystem } from "../../system/embedded.js";

const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
  version: string;
};

let system: EmbeddedSystem;
beforeAll(async () => {
  system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
});
afterAll(async () => {
  await system?.stop();
});

describe("the version a process reports", () => {
  it("is package.json's, on the gateway's and every service's /health and in the OpenAPI document", async () => {
    const urls = [system.gatewayUrl, ...system.services.map((s) => s.url)];
    for (const url of urls) {
      const health = (await (await fetch(`${url}/health`)).json()) as { version?: string };
      expect({ url, version: health.version }).toEqual({ url, version: pkg.version });
    }
    const doc = (await (await fetch(`${system.gatewayUrl}/openapi.json`)).json()) as {
      info: { version: string };
    };
    expect(doc.info.version).toBe(pkg.version);
  });
});
