import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { OrderIdSchema } from "../../contracts/index.js";
import { notFound, parseInput } from "../../lib/http/index.js";
import type { PaymentStore } from "./store.js";

const Params = z.object({ orderId: OrderIdSchema });

/** Internal routes for operators and tests. Records hold a token fingerprint, never a token. */
export function registerPaymentRoutes(app: FastifyInstance, store: PaymentStore): void {
  app.get("/payments/:orderId", async (request) => {
    const { orderId } = parseInput(Params, request.params);
    const record = await store.get(orderId);
    if (!record) throw notFound("payment of order", orderId);
    return record;
  });
}
