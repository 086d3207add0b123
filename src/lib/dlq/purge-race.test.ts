import { MemoryDeadLetterStore } from "./memory-dead-letter-store.js";
import { runPurgeRaceContract } from "./purge-race-contract.js";

runPurgeRaceContract("memory", async () => new MemoryDeadLetterStore());
