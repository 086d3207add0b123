import { MemoryDeadLetterStore } from "../../dlq/memory-dead-letter-store.js";
import { MemoryTransport } from "./memory.js";
import { runTransportContract } from "./transport-contract.js";

runTransportContract("memory", async (tuning = {}) => {
  const deadLetters = new MemoryDeadLetterStore();
  const transport = new MemoryTransport({ deadLetters, claimIdleMs: 250, claimIntervalMs: 50, ...tuning });
  return { transport, deadLetters, cleanup: () => transport.close() };
});
