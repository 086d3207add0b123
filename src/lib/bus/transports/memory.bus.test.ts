import { describe } from "vitest";
import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { runBusContract } from "../bus-contract.js";
import { MemoryTransport } from "./memory.js";

describe("bus over the in-memory transport", () => {
  runBusContract(async (tuning = {}) => {
    const deadLetters = new MemoryDeadLetterStore();
    const transport = new MemoryTransport({ deadLetters, claimIdleMs: 200, claimIntervalMs: 50, ...tuning });
    return { transport, deadLetters, cleanup: () => transport.close() };
  });
});
