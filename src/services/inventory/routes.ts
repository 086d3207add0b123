/** HTTP routes of the catalog (proxied by the gateway). */
import type { FastifyInstance } from "fastify";
import { AddProductBody, ProductIdSchema, RestockBody } from "../../contracts/index.js";
import { AppError, notFound, parseInput } from "../../lib/http/index.js";
import { InventoryError, type Product } from "./domain.js";
import { type Prepare, productAddedMessages, restockedMessages } from "./messages.js";
import type { InventoryStore } from "./store.js";

export interface InventoryRoutesDeps {
  store: InventoryStore;
  /** The service publisher's prepare: HTTP changes start a new correlation. */
  prepare: Prepare;
}

const view = (p: Product) => ({
  productId: p.productId,
  name: p.name,
  price: p.price,
  available: p.available,
  reserved: p.reserved,
  committed: p.committed,
  lowStockThreshold: p.lowStockThreshold,
});

const productIdParam = (params: unknown): string =>
  parseInput(ProductIdSchema, (params as { productId?: unknown }).productId);

export function registerInventoryRoutes(app: FastifyInstance, { store, prepare }: InventoryRoutesDeps): void {
  app.get("/inventory", async () => ({ products: (await store.listProducts()).map(view) }));

  app.post("/inventory", async (request, reply) => {
    const body = parseInput(AddProductBody, request.body);
    const added = await store.addProduct(body, (product) => productAddedMessages(prepare, product));
    if (!added) throw new AppError("PRODUCT_EXISTS", `product ${body.productId} already exists`);
    return reply.status(201).send(view(added));
  });

  app.get("/inventory/:productId", async (request) => {
    const productId = productIdParam(request.params);
    const product = await store.getProduct(productId);
    if (!product) throw notFound("product", productId);
    return view(product);
  });

  app.post("/inventory/:productId/restock", async (request) => {
    const productId = productIdParam(request.params);
    const { quantity } = parseInput(RestockBody, request.body);
    const product = await store
      .restock(productId, quantity, (p) => restockedMessages(prepare, p, quantity))
      .catch((error: unknown) => {
        if (error instanceof InventoryError && error.retryable) {
          throw new AppError("SERVICE_UNAVAILABLE", "stock is changing too fast, try again", undefined, true);
        }
        throw error;
      });
    if (!product) throw notFound("product", productId);
    return view(product);
  });
}
