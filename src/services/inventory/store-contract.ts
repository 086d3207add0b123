/**
 * The one behaviour suite every InventoryStore adapter passes (memory and Redis). Emitted events
 * are observed where the adapter writes them (the injected publish, or XRANGE on the streams), so
 * "state and events together" is checked, not assumed.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_STOCK_LEVEL } from "../../contracts/index.js";
import type { Product } from "./domain.js";
import { WriteDeadlineError } from "../../lib/redis/write-deadline.js";
import { productAddedMessages, restockedMessages } from "./messages.js";
import { type InventoryStoreHarness, ops, prepare, product } from "./store-contract-support.js";
import { allProducts } from "./store.js";
import { runInventoryStressContract } from "./store-stress-contract.js";

export type { InventoryStoreHarness } from "./store-contract-support.js";

export function runInventoryStoreContract(name: string, factory: () => Promise<InventoryStoreHarness>): void {
  describe(`InventoryStore contract: ${name}`, () => {
    let h: InventoryStoreHarness;
    let op: ReturnType<typeof ops>;
    const count = async (topic: string) => (await h.emitted(topic)).length;

    beforeEach(async () => {
      h = await factory();
      op = ops(h.store);
    });

    it("adds a product once and announces it once", async () => {
      expect(await op.add(product("a", 7, 250))).toMatchObject({ productId: "a", available: 7, reserved: 0 });
      expect(await op.add(product("a", 99))).toBeUndefined();
      expect(await h.store.getProduct("a")).toMatchObject({
        available: 7,
        price: 250,
        lowStockThreshold: 10,
      });
      expect(await h.emitted("inventory.product.added")).toEqual([
        { productId: "a", name: "Product a", price: 250, quantity: 7, lowStockThreshold: 10 },
      ]);
    });

    // fixdl: a write given the gateway's deadline checks it in its atomic step (Redis `TIME` / the
    // memory store's clock): past it, nothing written, nothing emitted, a typed error.
    describe("a write past its deadline (applyBy)", () => {
      const past = () => Date.now() - 60_000;
      const future = () => Date.now() + 60_000;
      const emitRestock = (q: number) => (p: Product) => restockedMessages(prepare, p, q);

      it("restocks nothing, keyed or not, and records no key", async () => {
        await op.add(product("a", 3));
        const once = { key: "k-late", requestHash: "h1", ttlMs: 60_000 };
        await expect(h.store.restock("a", 4, emitRestock(4), undefined, past())).rejects.toBeInstanceOf(
          WriteDeadlineError,
        );
        await expect(h.store.restock("a", 4, emitRestock(4), once, past())).rejects.toBeInstanceOf(
          WriteDeadlineError,
        );
        expect(await h.store.getProduct("a")).toMatchObject({ available: 3 });
        expect(await count("inventory.restocked")).toBe(0);
        // No record was kept under the key: the same key applies once, within its deadline.
        expect(await h.store.restock("a", 4, emitRestock(4), once, future())).toMatchObject({
          kind: "applied",
          product: { available: 7 },
        });
        expect(await h.store.restock("a", 4, emitRestock(4), undefined, future())).toMatchObject({
          kind: "applied",
          product: { available: 11 },
        });
        // A replay writes nothing: answered even past the deadline.
        expect(await h.store.restock("a", 4, emitRestock(4), once, past())).toMatchObject({
          kind: "replayed",
        });
        expect(await count("inventory.restocked")).toBe(2);
      });

      it("adds no product", async () => {
        const emit = (p: Product) => productAddedMessages(prepare, p);
        await expect(h.store.addProduct(product("late", 5), emit, past())).rejects.toBeInstanceOf(
          WriteDeadlineError,
        );
        expect(await h.store.getProduct("late")).toBeUndefined();
        expect(await count("inventory.product.added")).toBe(0);
        expect(await h.store.addProduct(product("late", 5), emit, future())).toMatchObject({ available: 5 });
        // An existing product is refused as before (nothing to write, nothing late).
        expect(await h.store.addProduct(product("late", 9), emit, past())).toBeUndefined();
      });
    });

    it("lists products sorted by id", async () => {
      await Promise.all(["c", "a", "b"].map((id) => op.add(product(id, 1))));
      expect((await allProducts(h.store)).map((p) => p.productId)).toEqual(["a", "b", "c"]);
    });

    it("lists a page of products after a given id, at most limit of them", async () => {
      await Promise.all(["d", "c", "a", "e", "b"].map((id) => op.add(product(id, 1))));
      const ids = async (query: { after?: string; limit: number }) =>
        (await h.store.listProducts(query)).products.map((p) => p.productId);
      expect(await ids({ limit: 2 })).toEqual(["a", "b"]);
      expect(await ids({ after: "b", limit: 2 })).toEqual(["c", "d"]);
      expect(await ids({ after: "d", limit: 2 })).toEqual(["e"]);
      expect(await ids({ after: "e", limit: 2 })).toEqual([]);
      // `after` need not be a product id: the page starts at the next id in sort order.
      expect(await ids({ after: "bb", limit: 5 })).toEqual(["c", "d", "e"]);
    });

    it("restocks with an event carrying the new level; an unknown product is untouched", async () => {
      await op.add(product("a", 3));
      expect(await op.restock("a", 4)).toMatchObject({ available: 7 });
      expect(await op.restock("ghost", 4)).toBeUndefined();
      expect(await h.store.getProduct("ghost")).toBeUndefined();
      expect(await h.emitted("inventory.restocked")).toEqual([{ productId: "a", quantity: 4, available: 7 }]);
    });

    it("refuses a restock past MAX_STOCK_LEVEL on hand (available and reserved count), with the room left", async () => {
      await op.add(product("a", MAX_STOCK_LEVEL - 10));
      expect((await op.reserve("o1", [{ productId: "a", quantity: 4 }])).kind).toBe("reserved");
      const emit = (p: Product) => restockedMessages(prepare, p, 11);
      expect(await h.store.restock("a", 11, emit)).toEqual({ kind: "over_limit", room: 10 });
      const once = { key: "k", requestHash: "h", ttlMs: 60_000 };
      expect(await h.store.restock("a", 11, emit, once)).toEqual({ kind: "over_limit", room: 10 });
      expect(await h.store.getProduct("a")).toMatchObject({ available: MAX_STOCK_LEVEL - 14, reserved: 4 });
      expect(await count("inventory.restocked")).toBe(0);
      expect(await op.restock("a", 10)).toMatchObject({ available: MAX_STOCK_LEVEL - 4 });
    });

    // Break10 F1: a refused keyed restock recorded nothing, so a late copy of it (a resend's first
    // attempt, thawed on another instance) applied once the refusal no longer held.
    it("replays a keyed restock's refusal (over the limit) to a later copy, even once room is freed", async () => {
      await op.add(product("a", MAX_STOCK_LEVEL));
      expect((await op.reserve("o1", [{ productId: "a", quantity: 10 }])).kind).toBe("reserved");
      const emit = (p: Product) => restockedMessages(prepare, p, 5);
      const once = { key: "k-limit", requestHash: "h5", ttlMs: 60_000 };
      expect(await h.store.restock("a", 5, emit, once)).toEqual({ kind: "over_limit", room: 0 });
      await op.commit("o1"); // sold units leave the limit: the restock would fit now
      expect(await h.store.restock("a", 5, emit, once)).toEqual({
        kind: "over_limit",
        room: 0,
        replayed: true,
      });
      expect(await h.store.getProduct("a")).toMatchObject({ available: MAX_STOCK_LEVEL - 10, committed: 10 });
      expect(await count("inventory.restocked")).toBe(0);
      // The key keeps its request: another body with it is still a reuse.
      expect(await h.store.restock("a", 6, emit, { ...once, requestHash: "h6" })).toEqual({ kind: "reused" });
    });

    it("replays a keyed restock's refusal (unknown product) to a later copy, even once the product exists", async () => {
      const emit = (p: Product) => restockedMessages(prepare, p, 5);
      const once = { key: "k-ghost", requestHash: "h5", ttlMs: 60_000 };
      expect(await h.store.restock("late", 5, emit, once)).toEqual({ kind: "missing" });
      await op.add(product("late", 100));
      expect(await h.store.restock("late", 5, emit, once)).toEqual({ kind: "missing", replayed: true });
      expect(await h.store.getProduct("late")).toMatchObject({ available: 100 });
      expect(await count("inventory.restocked")).toBe(0);
    });

    // Newuser8 L6: committed (sold) units counted too, so lifetime sales used up restock room.
    it("does not count units already sold against the restock limit: only stock on hand and reserved", async () => {
      await op.add(product("a", MAX_STOCK_LEVEL));
      expect((await op.reserve("o1", [{ productId: "a", quantity: 5 }])).kind).toBe("reserved");
      await op.commit("o1");
      expect(await h.store.getProduct("a")).toMatchObject({ available: MAX_STOCK_LEVEL - 5, committed: 5 });
      expect(await op.restock("a", 5)).toMatchObject({ available: MAX_STOCK_LEVEL, committed: 5 });
      const emit = (p: Product) => restockedMessages(prepare, p, 1);
      expect(await h.store.restock("a", 1, emit)).toEqual({ kind: "over_limit", room: 0 });
    });

    it("reserves all lines with prices and emits inventory.reserved in the same step", async () => {
      await Promise.all([op.add(product("a", 20, 300)), op.add(product("b", 20, 50))]);
      const lines = [
        { productId: "a", quantity: 2 },
        { productId: "b", quantity: 1 },
      ];
      expect((await op.reserve("o1", lines)).kind).toBe("reserved");
      expect(await h.store.getProduct("a")).toMatchObject({ available: 18, reserved: 2, committed: 0 });
      expect(await h.store.getReservation("o1")).toMatchObject({ state: "reserved" });
      expect(await h.emitted("inventory.reserved")).toEqual([
        {
          orderId: "o1",
          items: [
            { productId: "a", quantity: 2, unitPrice: 300 },
            { productId: "b", quantity: 1, unitPrice: 50 },
          ],
          total: 650,
          currency: "USD",
        },
      ]);
    });

    it("reserves once per order: a second request changes nothing and emits nothing", async () => {
      await op.add(product("a", 20));
      await op.reserve("o1", [{ productId: "a", quantity: 3 }]);
      expect(await op.reserve("o1", [{ productId: "a", quantity: 3 }])).toEqual({
        kind: "duplicate",
        state: "reserved",
      });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 17, reserved: 3 });
      expect(await count("inventory.reserved")).toBe(1);
    });

    it("reserves nothing when one line is short, and records the failure once", async () => {
      await Promise.all([op.add(product("a", 20)), op.add(product("b", 2))]);
      const lines = [
        { productId: "a", quantity: 5 },
        { productId: "b", quantity: 3 },
      ];
      expect(await op.reserve("o1", lines)).toMatchObject({ kind: "failed", reason: "out_of_stock" });
      expect(await op.reserve("o1", lines)).toEqual({ kind: "duplicate", state: "failed" });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 20, reserved: 0 });
      expect(await h.store.getReservation("o1")).toMatchObject({ state: "failed", reason: "out_of_stock" });
      expect(await h.emitted("inventory.reservation.failed")).toEqual([
        { orderId: "o1", reason: "out_of_stock", items: [{ productId: "b", requested: 3, available: 2 }] },
      ]);
      expect(await count("inventory.reserved")).toBe(0);
    });

    it("fails an order naming an unknown product", async () => {
      await op.add(product("a", 20));
      const lines = [
        { productId: "a", quantity: 1 },
        { productId: "ghost", quantity: 1 },
      ];
      expect(await op.reserve("o1", lines)).toMatchObject({ kind: "failed", reason: "unknown_product" });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 20 });
      expect(await h.emitted("inventory.reservation.failed")).toEqual([
        {
          orderId: "o1",
          reason: "unknown_product",
          items: [{ productId: "ghost", requested: 1, available: 0 }],
        },
      ]);
    });

    it("alerts low stock once, when available crosses the threshold", async () => {
      await op.add(product("a", 12, 100, 10));
      await op.reserve("o1", [{ productId: "a", quantity: 1 }]);
      await op.reserve("o2", [{ productId: "a", quantity: 2 }]);
      await op.reserve("o3", [{ productId: "a", quantity: 1 }]);
      expect(await h.emitted("inventory.lowStock")).toEqual([
        { productId: "a", available: 9, threshold: 10 },
      ]);
    });

    it("releases a reservation once, returning its stock", async () => {
      await op.add(product("a", 10));
      await op.reserve("o1", [{ productId: "a", quantity: 4 }]);
      expect((await op.release("o1")).kind).toBe("release");
      expect(await op.release("o1")).toEqual({ kind: "noop", state: "released" });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 10, reserved: 0 });
      expect(await h.emitted("inventory.released")).toEqual([
        { orderId: "o1", items: [{ productId: "a", quantity: 4 }] },
      ]);
    });

    it("turns a release before the reservation into a tombstone: the late request is a no-op", async () => {
      await op.add(product("a", 10));
      expect(await op.release("late")).toEqual({ kind: "tombstone" });
      expect(await op.reserve("late", [{ productId: "a", quantity: 4 }])).toEqual({
        kind: "duplicate",
        state: "released",
      });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 10, reserved: 0 });
      for (const topic of ["inventory.reserved", "inventory.reservation.failed", "inventory.released"]) {
        expect(await count(topic)).toBe(0);
      }
    });

    it("commits a reservation once; commit and release after it do nothing", async () => {
      await op.add(product("a", 10));
      await op.reserve("o1", [{ productId: "a", quantity: 4 }]);
      expect((await op.commit("o1")).kind).toBe("commit");
      expect(await op.commit("o1")).toEqual({ kind: "noop", state: "committed" });
      expect(await op.release("o1")).toEqual({ kind: "noop", state: "committed" });
      expect(await op.commit("never-reserved")).toEqual({ kind: "noop", state: "none" });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 6, reserved: 0, committed: 4 });
      expect(await count("inventory.committed")).toBe(1);
      expect(await count("inventory.released")).toBe(0);
    });

    it("writes nothing when the events cannot be built", async () => {
      await op.add(product("a", 10));
      const broken = () => {
        throw new Error("cannot encode");
      };
      await expect(h.store.reserve("o1", [{ productId: "a", quantity: 1 }], broken)).rejects.toThrow(
        "cannot encode",
      );
      expect(await h.store.getProduct("a")).toMatchObject({ available: 10, reserved: 0 });
      expect(await h.store.getReservation("o1")).toBeUndefined();
    });

    it("refuses to write another service's events with its state", async () => {
      await op.add(product("a", 10));
      const foreign = () => [
        prepare("order.compensation.inventory.release", { orderId: "o1", reason: "x" }).message,
      ];
      await expect(h.store.reserve("o1", [{ productId: "a", quantity: 1 }], foreign)).rejects.toMatchObject({
        code: "FOREIGN_EVENT",
        message: expect.stringMatching(/owned by "order"/),
      });
      expect(await h.store.getProduct("a")).toMatchObject({ available: 10, reserved: 0 });
      expect(await h.store.getReservation("o1")).toBeUndefined();
      expect(await count("inventory.reserved")).toBe(0);
    });

    runInventoryStressContract(() => h);
  });
}
