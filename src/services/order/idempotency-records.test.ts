import { MemoryIdempotencyRecords } from "./idempotency-records.js";
import { runIdempotencyRecordsContract } from "./idempotency-records-contract.js";

runIdempotencyRecordsContract("memory", async () => {
  let clock = 1_000;
  return {
    records: new MemoryIdempotencyRecords(() => clock),
    advance: async (ms) => {
      clock += ms;
    },
  };
});
