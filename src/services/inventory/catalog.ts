/** The demo catalog and its seeding. */
import type { NewProduct } from "./domain.js";
import { type Prepare, productAddedMessages } from "./messages.js";
import type { InventoryStore } from "./store.js";

/** Added at start when absent (prod-limited is the easy out-of-stock case). */
export const DEMO_PRODUCTS: readonly NewProduct[] = [
  { productId: "prod-keyboard", name: "Mechanical keyboard", price: 4999, quantity: 100 },
  { productId: "prod-mouse", name: "Wireless mouse", price: 2499, quantity: 200 },
  { productId: "prod-monitor", name: "27-inch monitor", price: 27999, quantity: 25, lowStockThreshold: 5 },
  { productId: "prod-cable", name: "USB-C cable", price: 999, quantity: 500, lowStockThreshold: 50 },
  {
    productId: "prod-limited",
    name: "Limited edition figurine",
    price: 14999,
    quantity: 5,
    lowStockThreshold: 2,
  },
];

/**
 * Adds each product unless it exists. Add-if-absent is atomic in the store, so instances starting
 * together add (and announce) each product once. Returns the productIds this call added.
 */
export async function seedCatalog(
  store: InventoryStore,
  products: readonly NewProduct[],
  prepare: Prepare,
): Promise<string[]> {
  const added = await Promise.all(
    products.map((p) => store.addProduct(p, (product) => productAddedMessages(prepare, product))),
  );
  return added.flatMap((p) => (p ? [p.productId] : []));
}
