/** One behaviour suite for the Idempotency-Key records, run against the memory and Redis adapters. */
import { describe, expect, it } from "vitest";
import type { IdempotencyRecords } from "./idempotency-records.js";

export interface IdempotencyRecordsFixture {
  records: IdempotencyRecords;
  /** Moves the adapter's clock on by `ms` (memory: a fake clock; Redis: waits out a short TTL). */
  advance(ms: number): Promise<void>;
}

export function runIdempotencyRecordsContract(
  name: string,
  factory: () => Promise<IdempotencyRecordsFixture>,
): void {
  describe(`idempotency records: ${name}`, () => {
    const first = { orderId: "o-1", requestHash: "h-1" };
    const second = { orderId: "o-2", requestHash: "h-2" };

    it("records a key once and answers the first record to every later claim", async () => {
      const { records } = await factory();
      expect(await records.claim("client-a", "7f3c", first, 60_000)).toEqual({
        record: first,
        created: true,
      });
      expect(await records.claim("client-a", "7f3c", second, 60_000)).toEqual({
        record: first,
        created: false,
      });
    });

    it("keeps the same key of two clients apart", async () => {
      const { records } = await factory();
      await records.claim("client-a", "7f3c", first, 60_000);
      expect(await records.claim("client-b", "7f3c", second, 60_000)).toEqual({
        record: second,
        created: true,
      });
    });

    it("lets exactly one of many concurrent claims of one key create the record", async () => {
      const { records } = await factory();
      const claims = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          records.claim("c", "k", { orderId: `o-${i}`, requestHash: "h" }, 60_000),
        ),
      );
      expect(claims.filter((c) => c.created)).toHaveLength(1);
      expect(new Set(claims.map((c) => c.record.orderId)).size).toBe(1);
    });

    it("forgets a key after its time to live", async () => {
      const fixture = await factory();
      await fixture.records.claim("c", "k-ttl", first, 50);
      await fixture.advance(50);
      expect(await fixture.records.claim("c", "k-ttl", second, 60_000)).toEqual({
        record: second,
        created: true,
      });
    });
  });
}
