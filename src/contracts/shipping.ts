/**
 * Events owned (published) by the shipping service. `shipping.shipment.requested` is a saga command,
 * so it is owned by `order` and defined in `order.ts`.
 */
import { z } from "zod";
import type { EventPayload } from "../lib/bus/events.js";
import { defineEvents } from "../lib/bus/events.js";
import {
  CompensationSkippedSchema,
  IdSchema,
  IsoTimestampSchema,
  OrderIdSchema,
  ReasonSchema,
  ShipmentPreparedSchema,
} from "./common.js";

export const ShippingEvents = defineEvents("shipping", {
  "shipping.shipment.prepared": {
    description: "Shipment prepared with the carrier",
    schema: ShipmentPreparedSchema,
  },
  "shipping.shipment.failed": {
    description: "Shipment could not be prepared",
    schema: z.strictObject({ orderId: OrderIdSchema, reason: ReasonSchema, transient: z.boolean() }),
  },
  "shipping.shipment.cancelled": {
    description: "Shipment cancelled",
    schema: z.strictObject({ orderId: OrderIdSchema, shipmentId: IdSchema }),
  },
  "shipping.shipment.delivered": {
    description: "Shipment delivered",
    schema: z.strictObject({ orderId: OrderIdSchema, shipmentId: IdSchema, deliveredAt: IsoTimestampSchema }),
  },
  "shipping.shipment.cancel.skipped": {
    description:
      "Cancel compensation changed nothing (already cancelled, nothing prepared, or refused: already delivered)",
    schema: CompensationSkippedSchema,
  },
});

type E = typeof ShippingEvents;
export type ShippingShipmentPrepared = EventPayload<E, "shipping.shipment.prepared">;
export type ShippingShipmentFailed = EventPayload<E, "shipping.shipment.failed">;
export type ShippingShipmentCancelled = EventPayload<E, "shipping.shipment.cancelled">;
export type ShippingShipmentDelivered = EventPayload<E, "shipping.shipment.delivered">;
export type ShippingShipmentCancelSkipped = EventPayload<E, "shipping.shipment.cancel.skipped">;
