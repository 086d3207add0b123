/**
 * Concurrency part of the inventory store contract: many callers on several connections at once,
 * and a seeded random mix of every operation, checking stock conservation throughout.
 */
import { describe, expect, it } from "vitest";
import { type OrderLine, type Product, stockTotal } from "./domain.js";
import { type InventoryStoreHarness, ops, product } from "./store-contract-support.js";
import { allProducts } from "./store.js";

/** Small deterministic PRNG (mulberry32), so a failing sequence can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PRODUCTS = ["p0", "p1", "p2"];
const ORDERS = Array.from({ length: 30 }, (_, i) => `order-${i}`);

function randomLines(next: () => number): OrderLine[] {
  const chosen = PRODUCTS.filter(() => next() < 0.5);
  const ids = chosen.length > 0 ? chosen : [PRODUCTS[Math.floor(next() * PRODUCTS.length)] ?? "p0"];
  return ids.map((productId) => ({ productId, quantity: 1 + Math.floor(next() * 8) }));
}

function expectConserved(products: readonly Product[], stocked: ReadonlyMap<string, number>): void {
  for (const p of products) {
    expect(Math.min(p.available, p.reserved, p.committed), `${p.productId} negative`).toBeGreaterThanOrEqual(
      0,
    );
    expect(stockTotal(p), `${p.productId} total`).toBe(stocked.get(p.productId));
  }
}

async function repliesPerOrder(h: InventoryStoreHarness): Promise<Map<string, number>> {
  const replies = [
    ...(await h.emitted("inventory.reserved")),
    ...(await h.emitted("inventory.reservation.failed")),
  ];
  const counts = new Map<string, number>();
  for (const reply of replies as { orderId: string }[])
    counts.set(reply.orderId, (counts.get(reply.orderId) ?? 0) + 1);
  return counts;
}

/** What the reservations in each state hold, per product: must match the products' counters. */
async function heldByReservations(h: InventoryStoreHarness) {
  const held = { reserved: new Map<string, number>(), committed: new Map<string, number>() };
  const settled = { released: 0, committed: 0 };
  for (const orderId of ORDERS) {
    const r = await h.store.getReservation(orderId);
    if (r?.state === "released" && r.items.length > 0) settled.released++;
    if (r?.state === "committed") settled.committed++;
    if (r?.state !== "reserved" && r?.state !== "committed") continue;
    const into = held[r.state];
    for (const l of r.items) into.set(l.productId, (into.get(l.productId) ?? 0) + l.quantity);
  }
  return { held, settled };
}

async function randomStep(op: ReturnType<typeof ops>, next: () => number, stocked: Map<string, number>) {
  const orderId = ORDERS[Math.floor(next() * ORDERS.length)] ?? "order-0";
  const roll = next();
  if (roll < 0.45) return op.reserve(orderId, randomLines(next));
  if (roll < 0.65) return op.release(orderId);
  if (roll < 0.85) return op.commit(orderId);
  const productId = PRODUCTS[Math.floor(next() * PRODUCTS.length)] ?? "p0";
  const quantity = 1 + Math.floor(next() * 5);
  stocked.set(productId, (stocked.get(productId) ?? 0) + quantity);
  return op.restock(productId, quantity);
}

export function runInventoryStressContract(harness: () => InventoryStoreHarness): void {
  describe("under concurrency", () => {
    it("200 concurrent 1-unit reservations on 50 in stock: exactly 50 succeed", async () => {
      const h = harness();
      await ops(h.store).add(product("hot", 50, 100, 10));
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) => {
          const peer = h.peers[i % h.peers.length] ?? h.store;
          return ops(peer).reserve(`o-${i}`, [{ productId: "hot", quantity: 1 }]);
        }),
      );
      expect(results.filter((r) => r.kind === "reserved")).toHaveLength(50);
      expect(results.filter((r) => r.kind === "failed" && r.reason === "out_of_stock")).toHaveLength(150);
      expect(await h.store.getProduct("hot")).toMatchObject({ available: 0, reserved: 50, committed: 0 });
      expect(await h.emitted("inventory.reserved")).toHaveLength(50);
      const failed = (await h.emitted("inventory.reservation.failed")) as {
        items: { available: number }[];
      }[];
      expect(failed).toHaveLength(150);
      expect(failed.every((f) => f.items[0]?.available === 0)).toBe(true);
      expect(await h.emitted("inventory.lowStock")).toEqual([
        { productId: "hot", available: 10, threshold: 10 },
      ]);
    });

    it("conserves stock through a random mix of every operation run in parallel batches", async () => {
      const h = harness();
      const next = random(20240601);
      const stocked = new Map(PRODUCTS.map((id) => [id, 30]));
      await Promise.all(PRODUCTS.map((id) => ops(h.store).add(product(id, 30, 10, 5))));
      for (let batch = 0; batch < 30; batch++) {
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            randomStep(ops(h.peers[i % h.peers.length] ?? h.store), next, stocked),
          ),
        );
        expectConserved(await allProducts(h.store), stocked);
      }
      const products = await allProducts(h.store);
      const { held, settled } = await heldByReservations(h);
      for (const p of products) {
        expect(p.reserved, `${p.productId} reserved`).toBe(held.reserved.get(p.productId) ?? 0);
        expect(p.committed, `${p.productId} committed`).toBe(held.committed.get(p.productId) ?? 0);
      }
      // The mix must have exercised every path, or the checks above prove little.
      expect(Math.min(settled.released, settled.committed, held.reserved.size)).toBeGreaterThan(0);
      expect([...(await repliesPerOrder(h)).values()].every((n) => n === 1)).toBe(true);
      expect(await h.emitted("inventory.released")).toHaveLength(settled.released);
      expect(await h.emitted("inventory.committed")).toHaveLength(settled.committed);
    });
  });
}
