/** Paging and time filters of the dead-letter stores, one suite run against both adapters. */
import { describe, expect, it } from "vitest";
import { type DeadLetterRecord, type DeadLetterStore, deadLetterId } from "./dead-letter-store.js";

function record(n: number, deadLetteredAt: string, event = "order.placed"): DeadLetterRecord {
  return {
    id: deadLetterId("payment", event, `${n}-0`),
    group: "payment",
    topic: event,
    owner: "order",
    deliveryId: `${n}-0`,
    body: "{}",
    event,
    reason: "invalid",
    attempts: [],
    deadLetteredAt,
    status: "dead",
    retries: 0,
  };
}

async function walk(
  store: DeadLetterStore,
  limit: number,
  scanLimit?: number,
  event?: string,
): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await store.page(event ? { event } : {}, {
      limit,
      ...(cursor ? { cursor } : {}),
      ...(scanLimit ? { scanLimit } : {}),
    });
    pages.push(page.records.map((r) => r.deliveryId));
    if (!page.nextCursor) return pages;
    cursor = page.nextCursor;
  }
  throw new Error("more than 100 pages");
}

export function runDeadLetterPagingContract(name: string, factory: () => Promise<DeadLetterStore>): void {
  describe(`dead-letter paging and time filters: ${name}`, () => {
    it("filters by instants whatever the UTC offset of the bounds", async () => {
      const store = await factory();
      await store.add(record(1, "2024-01-01T12:30:00.000Z"));
      await store.add(record(2, "2024-01-01T14:30:00.000Z"));
      // 08:00-05:00 is 13:00Z; 14:00+02:00 is 12:00Z; as text both would compare wrongly.
      const after = await store.list({ from: "2024-01-01T08:00:00-05:00" });
      expect(after.map((r) => r.deliveryId)).toEqual(["2-0"]);
      const upTo = await store.list({ to: "2024-01-01T14:40:00+02:00" });
      expect(upTo.map((r) => r.deliveryId)).toEqual(["1-0"]);
      const page = await store.page({ from: "2024-01-01T08:00:00-05:00" }, { limit: 10 });
      expect(page.records.map((r) => r.deliveryId)).toEqual(["2-0"]);
    });

    it("pages newest first with cursors, records of one millisecond included", async () => {
      const store = await factory();
      for (let n = 1; n <= 5; n++) await store.add(record(n, `2024-01-0${n < 4 ? 1 : 2}T00:00:00.000Z`));
      const pages = await walk(store, 2);
      expect(pages.flat()).toHaveLength(5);
      expect(new Set(pages.flat()).size).toBe(5);
      expect(pages.flat().slice(0, 2).sort()).toEqual(["4-0", "5-0"]);
      expect(pages.every((p) => p.length <= 2)).toBe(true);
    });

    it("examines at most scanLimit entries per page and continues where it stopped", async () => {
      const store = await factory();
      for (let n = 1; n <= 9; n++) {
        await store.add(
          record(n, `2024-01-01T00:00:0${n}.000Z`, n === 1 ? "order.cancelled" : "order.placed"),
        );
      }
      const pages = await walk(store, 2, 3, "order.cancelled");
      expect(pages.flat()).toEqual(["1-0"]);
      expect(pages.length).toBeGreaterThanOrEqual(3);
    });

    it("answers an empty page to a cursor it did not issue", async () => {
      const store = await factory();
      await store.add(record(1, "2024-01-01T00:00:00.000Z"));
      expect(await store.page({}, { limit: 5, cursor: "garbage!" })).toEqual({ records: [] });
    });
  });
}
