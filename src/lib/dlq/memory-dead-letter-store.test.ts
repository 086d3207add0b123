import { MemoryDeadLetterStore } from "./memory-dead-letter-store.js";
import { runDeadLetterStoreContract } from "./store-contract.js";

runDeadLetterStoreContract("memory", async (options) => new MemoryDeadLetterStore(options));
