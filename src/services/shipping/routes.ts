import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema } from "../../contracts/index.js";
import { notFound, parseInput } from "../../lib/http/index.js";
import type { ShippingStore } from "./store.js";

const Params = z.object({ orderId: OrderIdSchema });

export function registerShippingRoutes(app: FastifyInstance, store: ShippingStore): void {
  app.get("/shipments/:orderId", async (request) => {
    const { orderId } = parseInput(Params, request.params);
    const record = await store.get(orderId);
    if (!record) throw notFound("shipment of order", orderId);
    return record;
  });
}
