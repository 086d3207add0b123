/** An idle gateway's background reads of the registry: one listing per health-check round. */
import { afterEach, describe, expect, it } from "vitest";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import type { ServiceInstance } from "../lib/discovery/types.js";
import { waitFor } from "../test-support/wait.js";
import { startTestGateway, startTestUpstream, type TestGateway, type TestUpstream } from "./test-upstream.js";

/** Counts full listings (every service), what the background loops read, and health-check rounds. */
class CountingRegistry extends MemoryServiceRegistry {
  fullLists = 0;
  rounds = 0;
  override list(service?: string): Promise<ServiceInstance[]> {
    if (service === undefined) this.fullLists++;
    return super.list(service);
  }
  override setHealth(...args: Parameters<MemoryServiceRegistry["setHealth"]>): Promise<boolean> {
    // Every round records one verdict for the one upstream.
    if (args[0] === "inventory") this.rounds++;
    return super.setHealth(...args);
  }
}

let gw: TestGateway | undefined;
let upstream: TestUpstream | undefined;

afterEach(async () => {
  await upstream?.close();
  await gw?.stop();
  gw = undefined;
  upstream = undefined;
});

describe("an idle gateway", () => {
  it("reads the whole registry once per health-check round, the breakers following that round's list", async () => {
    const registry = new CountingRegistry();
    upstream = await startTestUpstream(registry, "inventory", "inv-a", () => ({ status: 200, body: {} }));
    gw = await startTestGateway({ registry, healthCheckIntervalMs: 50 });
    await waitFor(() => registry.rounds >= 6, 10_000, "six health-check rounds", 10);
    await gw.stop();
    gw = undefined;
    // One listing per round (a round stopped between its listing and its verdict counts one more).
    const extra = registry.fullLists - registry.rounds;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(1);
  });
});
