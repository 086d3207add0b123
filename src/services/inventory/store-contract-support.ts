/** Shared pieces of the inventory store contract suites (not tests themselves). */
import { AllEvents } from "../../contracts/index.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import type { NewProduct, OrderLine } from "./domain.js";
import {
  committedMessages,
  productAddedMessages,
  releasedMessages,
  reservationMessages,
  restockedMessages,
} from "./messages.js";
import type { InventoryStore } from "./store.js";

export interface InventoryStoreHarness {
  store: InventoryStore;
  /** Stores sharing the same state over other connections (memory: the same store again). */
  peers: InventoryStore[];
  /** Payloads emitted for one event, oldest first. */
  emitted(topic: string): Promise<unknown[]>;
}

/** Prepares real, validated messages; its transport is never used. */
const publisher = new Publisher({
  events: AllEvents,
  transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  source: { service: "inventory", instance: "contract" },
});
export const prepare = publisher.prepare.bind(publisher);

/** The operations with their real events, as the service wires them. */
export const ops = (store: InventoryStore) => ({
  add: (p: NewProduct) => store.addProduct(p, (product) => productAddedMessages(prepare, product)),
  /** The restocked product, or undefined when nothing was applied (missing, over the limit). */
  restock: async (id: string, q: number) => {
    const outcome = await store.restock(id, q, (p) => restockedMessages(prepare, p, q));
    return outcome.kind === "applied" ? outcome.product : undefined;
  },
  reserve: (orderId: string, lines: OrderLine[]) =>
    store.reserve(orderId, lines, (o) => reservationMessages(prepare, orderId, o)),
  release: (orderId: string) => store.release(orderId, (lines) => releasedMessages(prepare, orderId, lines)),
  commit: (orderId: string) => store.commit(orderId, (lines) => committedMessages(prepare, orderId, lines)),
});

export const product = (
  productId: string,
  quantity: number,
  price = 100,
  lowStockThreshold = 10,
): NewProduct => ({
  productId,
  name: `Product ${productId}`,
  price,
  quantity,
  lowStockThreshold,
});
