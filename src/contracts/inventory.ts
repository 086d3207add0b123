/**
 * Events owned (published) by the inventory service. `inventory.reservation.requested` is a saga
 * command, so it is owned by `order` and defined in `order.ts`.
 */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  AmountSchema,
  CompensationSkippedSchema,
  MAX_ORDER_LINES,
  OrderIdSchema,
  OrderLinesSchema,
  PricedReservationSchema,
  ProductIdSchema,
  QuantitySchema,
  StockLevelSchema,
} from "./common.js";

/** `order_total_too_large`: the priced total exceeds the configured maximum order total. */
export const ReservationFailureReasonSchema = z.enum([
  "out_of_stock",
  "unknown_product",
  "order_total_too_large",
]);
export type ReservationFailureReason = z.infer<typeof ReservationFailureReasonSchema>;

/** A line that could not be reserved: what was asked and what was there (0 for an unknown product). */
export const ShortLineSchema = z.strictObject({
  productId: ProductIdSchema,
  requested: QuantitySchema,
  available: StockLevelSchema,
});

export const ProductNameSchema = z.string().trim().min(1).max(200);

export const InventoryEvents = defineEvents("inventory", {
  "inventory.reserved": { description: "Stock reserved", schema: PricedReservationSchema },
  "inventory.reservation.failed": {
    description: "Reservation failed",
    schema: z.strictObject({
      orderId: OrderIdSchema,
      reason: ReservationFailureReasonSchema,
      items: z.array(ShortLineSchema).min(1).max(MAX_ORDER_LINES),
    }),
  },
  "inventory.released": {
    description: "Reservation released",
    schema: z.strictObject({ orderId: OrderIdSchema, items: OrderLinesSchema }),
  },
  "inventory.release.skipped": {
    description:
      "Release compensation changed nothing (already released, nothing reserved, or refused: committed)",
    schema: CompensationSkippedSchema,
  },
  "inventory.committed": {
    description: "Stock deducted",
    schema: z.strictObject({ orderId: OrderIdSchema, items: OrderLinesSchema }),
  },
  "inventory.lowStock": {
    description: "Low stock alert",
    schema: z.strictObject({
      productId: ProductIdSchema,
      available: StockLevelSchema,
      threshold: StockLevelSchema,
    }),
  },
  "inventory.product.added": {
    description: "Product added to the catalog with its initial stock",
    schema: z.strictObject({
      productId: ProductIdSchema,
      name: ProductNameSchema,
      price: AmountSchema,
      quantity: StockLevelSchema,
      lowStockThreshold: StockLevelSchema,
    }),
  },
  "inventory.restocked": {
    description: "Stock added to a product",
    schema: z.strictObject({
      productId: ProductIdSchema,
      quantity: QuantitySchema,
      available: StockLevelSchema,
    }),
  },
});

type E = typeof InventoryEvents;
export type InventoryReserved = EventPayload<E, "inventory.reserved">;
export type InventoryReservationFailed = EventPayload<E, "inventory.reservation.failed">;
export type InventoryReleased = EventPayload<E, "inventory.released">;
export type InventoryCommitted = EventPayload<E, "inventory.committed">;
export type InventoryLowStock = EventPayload<E, "inventory.lowStock">;
export type InventoryProductAdded = EventPayload<E, "inventory.product.added">;
export type InventoryRestocked = EventPayload<E, "inventory.restocked">;
export type InventoryReleaseSkipped = EventPayload<E, "inventory.release.skipped">;
