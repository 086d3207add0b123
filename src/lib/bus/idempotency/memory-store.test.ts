import { describe } from "vitest";
import { MemoryIdempotencyStore } from "./memory-store.js";
import { runIdempotencyStoreContract } from "./store-contract.js";

describe("in-memory idempotency store", () => {
  runIdempotencyStoreContract(async () => new MemoryIdempotencyStore());
});
