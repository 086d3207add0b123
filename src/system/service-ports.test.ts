/**
 * Services' HTTP ports serve only the gateway (issue 12 item 2): a call straight to a service's port
 * without the gateway's credential is 401 GATEWAY_AUTH_REQUIRED, with a wrong one 403
 * GATEWAY_AUTH_INVALID, with the right one served; through the gateway it is served. The embedded
 * system makes its own secret: no setup.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayHeaders, serviceCredentialSecret } from "../lib/http/gateway-credential.js";
import { type EmbeddedSystem, startEmbeddedSystem } from "./embedded.js";

let system: EmbeddedSystem;
beforeAll(async () => {
  system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
});
afterAll(async () => {
  await system?.stop();
});

const codeOf = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;

describe("a service's port", () => {
  it("refuses calls without the gateway's credential (401) or with a wrong one (403), on every service", async () => {
    for (const service of system.services) {
      const url = `${service.url}/does-not-matter?x=1`;
      const bare = await fetch(url);
      expect(bare.status, service.name).toBe(401);
      expect(await codeOf(bare)).toBe("GATEWAY_AUTH_REQUIRED");
      const wrong = await fetch(url, { headers: gatewayHeaders("w".repeat(64), "GET", url) });
      expect(wrong.status, service.name).toBe(403);
      expect(await codeOf(wrong)).toBe("GATEWAY_AUTH_INVALID");
      const replayed = await fetch(`${service.url}/other`, {
        headers: gatewayHeaders(serviceCredentialSecret(system.sharedSecret, service.name), "GET", url),
      });
      expect(replayed.status, `${service.name}: a credential for another path`).toBe(403);
    }
  });

  it("serves a call with the right credential, and keeps health and metrics open for probes", async () => {
    const inventory = system.services.find((s) => s.name === "inventory")!;
    const url = `${inventory.url}/inventory`;
    const own = serviceCredentialSecret(system.sharedSecret, "inventory");
    expect((await fetch(url, { headers: gatewayHeaders(own, "GET", url) })).status).toBe(200);
    for (const path of ["/health", "/health/live", "/metrics"])
      expect((await fetch(`${inventory.url}${path}`)).status, path).toBe(200);
  });

  // Break-12 F8: each service verifies with its own secret, derived from the gateway's master.
  it("refuses a credential made with another service's secret, and one made with the master", async () => {
    const inventory = system.services.find((s) => s.name === "inventory")!;
    const url = `${inventory.url}/inventory`;
    for (const other of ["notification", "order", "payment"]) {
      const theirs = serviceCredentialSecret(system.sharedSecret, other);
      expect((await fetch(url, { headers: gatewayHeaders(theirs, "GET", url) })).status, other).toBe(403);
    }
    expect((await fetch(url, { headers: gatewayHeaders(system.sharedSecret, "GET", url) })).status).toBe(403);
  });

  it("is reached through the gateway with no setup", async () => {
    expect((await fetch(`${system.gatewayUrl}/inventory`)).status).toBe(200);
    expect((await fetch(`${system.gatewayUrl}/users/nobody`)).status).toBe(404);
  });
});
