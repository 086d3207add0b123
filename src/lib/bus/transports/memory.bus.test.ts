import { describe } from "vitest";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { runBusContract } from "../bus-contract.js";
import { MemoryTransport } from "./memory.js";

describe("bus over the in-memory transport", () => {
  // The in-memory transport's clock is the one all its consumers share: a host skew does not apply.
  runBusContract(async ({ hostClockSkewMs: _shared, ...tuning } = {}) => {
    const deadLetters = new MemoryDeadLetterStore();
    const transport = new MemoryTransport({ deadLetters, claimIdleMs: 200, claimIntervalMs: 50, ...tuning });
    return { transport, deadLetters, cleanup: () => transport.close() };
  });
});
