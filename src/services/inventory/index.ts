/**
 * The inventory service: catalog and stock, all-or-none reservations for the order saga,
 * idempotent release and commit, low-stock alerts.
 */
export { DEMO_PRODUCTS, seedCatalog } from "./catalog.js";
export type {
  CommitDecision,
  LowStockAlert,
  NewProduct,
  OrderLine,
  PricedLine,
  Product,
  ReleaseDecision,
  Reservation,
  ReservationOutcome,
  ReservationState,
  ReserveDecision,
  ShortLine,
} from "./domain.js";
export { DEFAULT_LOW_STOCK_THRESHOLD, InventoryError, stockTotal } from "./domain.js";
export { RedisInventoryStore, type RedisInventoryStoreOptions } from "./redis-store.js";
export { createInventoryService, type InventoryServiceOptions, inventoryService } from "./service.js";
export { type Emit, type InventoryStore, MemoryInventoryStore } from "./store.js";
