/** An idle gateway's background reads of the registry: one listing per health-check round. */
import { describe, expect, it } from "vitest";
import { MemoryServiceRegistry } from "../lib/discovery/memory-registry.js";
import type { ServiceInstance } from "../lib/discovery/types.js";
import { waitFor } from "../test-support/wait.js";
import { startTestUpstream, useTestGateway } from "./test-upstream.js";

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

const harness = useTestGateway();

describe("an idle gateway", () => {
  it("reads the whole registry once per health-check round, the breakers following that round's list", async () => {
    const registry = new CountingRegistry();
    harness.closeAfter(
      await startTestUpstream(registry, "inventory", "inv-a", () => ({ status: 200, body: {} })),
    );
    await harness.start({ registry, healthCheckIntervalMs: 50 });
    await waitFor(() => registry.rounds >= 6, 10_000, "six health-check rounds", 10);
    await harness.stopGateway();
    // One listing per round (a round stopped between its listing and its verdict counts one more).
    const extra = registry.fullLists - registry.rounds;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(1);
  });
});
