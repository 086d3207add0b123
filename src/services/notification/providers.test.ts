import { describe, expect, it } from "vitest";
import { request, runSimulatedProvidersContract } from "./providers-contract.js";
import { MemorySendLedger, SimulatedProviders } from "./providers.js";

runSimulatedProvidersContract("memory", () => new MemorySendLedger());

describe("SimulatedProviders over a memory ledger", () => {
  it("remembers only the most recent ids and messages, so a long run holds a bounded heap", async () => {
    const providers = new SimulatedProviders({
      ledger: new MemorySendLedger({ capacity: 10 }),
      keepSent: 5,
      now: () => 1,
    });
    for (let n = 0; n < 50; n++) await providers.send(request({ notificationId: `n${n}` }));
    expect(providers.sent().map((m) => m.notificationId)).toEqual(["n45", "n46", "n47", "n48", "n49"]);
    await providers.send(request({ notificationId: "n49" }));
    expect(providers.sent()).toHaveLength(5);
    expect(providers.sent().at(-1)?.notificationId).toBe("n49");
    // An id older than the last `capacity` is forgotten: sent again, as a provider past its
    // idempotency window would (the notification service dedupes in its own store first).
    await providers.send(request({ notificationId: "n0" }));
    expect(providers.sent().at(-1)?.notificationId).toBe("n0");
  });
});
