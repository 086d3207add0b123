/** One behaviour suite for the order list index, run against the memory and Redis adapters. */
import { describe, expect, it } from "vitest";
import { expectRebuildMarkerPort } from "../../lib/eventstore/projection-contract.js";
import type { ViewRecord } from "../../lib/eventstore/index.js";
import type { OrderListEntry, OrderListIndex } from "./order-list.js";

const position = (n: number) => String(n).padStart(16, "0");

/** Commits orders (id, user, creation ms) as one projection batch after the current checkpoint. */
async function index(list: OrderListIndex, orders: [string, string, number][], at: number): Promise<void> {
  const views = new Map<string, ViewRecord<OrderListEntry>>(
    orders.map(([id, userId, createdAtMs], i) => [
      id,
      { position: position(at + i), value: { userId, createdAtMs } },
    ]),
  );
  const expectedCheckpoint = await list.checkpoint();
  expect(await list.commit({ expectedCheckpoint, checkpoint: position(at + orders.length), views })).toBe(
    true,
  );
}

/** Every id, following cursors page by page. */
async function walk(list: OrderListIndex, limit: number, userId?: string): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const page = await list.page({ userId, limit, cursor });
    pages.push(page.ids);
    if (page.nextCursor === undefined) return pages;
    cursor = page.nextCursor;
  }
  throw new Error("more than 100 pages");
}

export function runOrderListContract(name: string, factory: () => Promise<OrderListIndex>): void {
  describe(`order list index: ${name}`, () => {
    it("lists orders newest first and pages through them with cursors, ties included", async () => {
      const list = await factory();
      await index(
        list,
        [
          ["o-1", "u-1", 1000],
          ["o-2", "u-2", 2000],
          ["o-3", "u-1", 2000],
        ],
        1,
      );
      await index(
        list,
        [
          ["o-4", "u-1", 3000],
          ["o-5", "u-2", 500],
        ],
        10,
      );
      expect((await list.page({ limit: 10 })).ids).toEqual(["o-4", "o-3", "o-2", "o-1", "o-5"]);
      expect(await walk(list, 2)).toEqual([["o-4", "o-3"], ["o-2", "o-1"], ["o-5"]]);
      expect(await walk(list, 5)).toEqual([["o-4", "o-3", "o-2", "o-1", "o-5"]]);
    });

    it("lists one user's orders only", async () => {
      const list = await factory();
      await index(
        list,
        [
          ["o-1", "u-1", 1000],
          ["o-2", "u-2", 2000],
          ["o-3", "u-1", 3000],
        ],
        1,
      );
      expect(await walk(list, 1, "u-1")).toEqual([["o-3"], ["o-1"]]);
      expect((await list.page({ limit: 10, userId: "nobody" })).ids).toEqual([]);
    });

    it("indexes an order once even when its creation is applied again", async () => {
      const list = await factory();
      await index(list, [["o-1", "u-1", 1000]], 1);
      await index(list, [["o-1", "u-1", 1000]], 5);
      expect((await list.page({ limit: 10 })).ids).toEqual(["o-1"]);
      expect((await list.load(["o-1", "nope"])).get("o-1")?.value).toEqual({
        userId: "u-1",
        createdAtMs: 1000,
      });
    });

    it("commits only from the checkpoint it read, and clears everything", async () => {
      const list = await factory();
      await index(list, [["o-1", "u-1", 1000]], 1);
      const views = new Map([["o-2", { position: position(9), value: { userId: "u-1", createdAtMs: 5 } }]]);
      expect(await list.commit({ expectedCheckpoint: undefined, checkpoint: position(9), views })).toBe(
        false,
      );
      await list.clear();
      expect(await list.checkpoint()).toBeUndefined();
      expect((await list.page({ limit: 10, userId: "u-1" })).ids).toEqual([]);
    });

    it("keeps its rebuild marker through clear; removes it only with its id and checkpoint", async () => {
      const list = await factory();
      const views = new Map([["o-1", { position: position(1), value: { userId: "u-1", createdAtMs: 5 } }]]);
      await expectRebuildMarkerPort(list, { expectedCheckpoint: undefined, checkpoint: position(1), views });
      expect((await list.page({ limit: 10 })).ids).toEqual(["o-1"]);
    });

    it("answers an empty page to a cursor it did not issue", async () => {
      const list = await factory();
      await index(list, [["o-1", "u-1", 1000]], 1);
      expect(await list.page({ limit: 10, cursor: "not-a-cursor" })).toEqual({ ids: [] });
    });
  });
}
