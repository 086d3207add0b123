import { MemoryDeadLetterStore } from "./memory-dead-letter-store.js";
import { runDeadLetterPagingContract } from "./paging-contract.js";

runDeadLetterPagingContract("memory", async () => new MemoryDeadLetterStore());
