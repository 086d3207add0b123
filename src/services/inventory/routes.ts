/** HTTP routes of the catalog (proxied by the gateway). */
import { pageLimit } from "../../lib/http/query.js";
import { createHash } from "node:crypto";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { AddProductBody, MAX_STOCK_LEVEL, ProductIdSchema, RestockBody } from "../../contracts/index.js";
import { AppError, notFound, parseInput, parseQuery, validationFailed } from "../../lib/http/index.js";
import { InventoryError, type Product } from "./domain.js";
import { type Prepare, productAddedMessages, restockedMessages } from "./messages.js";
import type { InventoryStore } from "./store.js";
import { restockIdempotencyKey } from "./keys.js";
import {
  DEFAULT_IDEMPOTENCY_KEY_TTL_MS,
  idempotencyClientOf,
  idempotencyKeyReused,
  RESTOCK_REQUEST_DIFFERS,
  markReplayed,
  parseKeyedInput,
} from "../../lib/http/idempotency-key.js";
import { stableStringify } from "../../lib/bus/idempotency-key.js";
import { deadlinePassed, gatewayDeadlineOf } from "../../lib/http/gateway-credential.js";
import { WriteDeadlineError } from "../../lib/redis/write-deadline.js";

/**
 * A write refused in its atomic step because the gateway's deadline had passed (fixdl): the 503
 * GATEWAY_DEADLINE_PASSED the credential check answers on arrival, nothing applied.
 */
function lateAs503(request: object): (error: unknown) => never {
  return (error) => {
    if (error instanceof WriteDeadlineError) throw deadlinePassed(gatewayDeadlineOf(request));
    throw error;
  };
}

export interface InventoryRoutesDeps {
  store: InventoryStore;
  /** The service publisher's prepare: HTTP changes start a new correlation. */
  prepare: Prepare;
  /** How long a restock's Idempotency-Key is remembered (ms, default 24 h). */
  idempotencyTtlMs?: number;
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

/** An opaque cursor: the last productId of a page, base64url (as `/orders` and `/dlq`, opaque). */
export const encodeProductCursor = (productId: string): string =>
  Buffer.from(productId).toString("base64url");

/** The productId a cursor stands for, or undefined when it is not one this API issued. */
export function decodeProductCursor(cursor: string): string | undefined {
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) return undefined;
  const productId = Buffer.from(cursor, "base64url").toString("utf8");
  return ProductIdSchema.safeParse(productId).success ? productId : undefined;
}

/** `GET /inventory`: the conventions of `/orders`, `/notifications` and `/dlq` (limit 1-500, cursor). */
export const InventoryListQuery = z.strictObject({
  limit: pageLimit(500).default(100),
  cursor: z
    .string()
    .refine(
      (c) => decodeProductCursor(c) !== undefined,
      "cursor: the nextCursor of a previous page, unchanged",
    )
    .optional(),
});

const productIdParam = (params: unknown): string =>
  parseInput(ProductIdSchema, (params as { productId?: unknown }).productId);

export function registerInventoryRoutes(
  app: FastifyInstance,
  { store, prepare, idempotencyTtlMs }: InventoryRoutesDeps,
): void {
  app.get("/inventory", async (request) => {
    const { limit, cursor } = parseQuery(InventoryListQuery, request.query);
    const after = cursor === undefined ? undefined : decodeProductCursor(cursor);
    // O(limit) whatever the catalog's size; a page may hold fewer than `limit` (a stale id) and go on.
    const page = await store.listProducts({ after, limit });
    return {
      products: page.products.map(view),
      ...(page.next === undefined ? {} : { nextCursor: encodeProductCursor(page.next) }),
    };
  });

  app.post("/inventory", async (request, reply) => {
    const body = parseInput(AddProductBody, request.body);
    // Checked against the gateway's deadline in the write (fixdl): a late add after the client's
    // conclusive check ("absent") would make a product appear the client gave up on.
    const added = await store
      .addProduct(body, (product) => productAddedMessages(prepare, product), gatewayDeadlineOf(request))
      .catch(lateAs503(request));
    if (!added) throw new AppError("PRODUCT_EXISTS", `product ${body.productId} already exists`);
    return reply.status(201).send(view(added));
  });

  app.get("/inventory/:productId", async (request) => {
    const productId = productIdParam(request.params);
    const product = await store.getProduct(productId);
    if (!product) throw notFound("product", productId);
    return view(product);
  });

  app.post("/inventory/:productId/restock", async (request, reply) => {
    const productId = productIdParam(request.params);
    const {
      body: { quantity },
      key,
    } = parseKeyedInput(RestockBody, request);
    const once =
      key === undefined
        ? undefined
        : {
            key: restockIdempotencyKey(idempotencyClientOf(request), key),
            requestHash: createHash("sha256").update(stableStringify({ productId, quantity })).digest("hex"),
            ttlMs: idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_KEY_TTL_MS,
          };
    const emit = (p: Product) => restockedMessages(prepare, p, quantity);
    // Limit, change, events (and the key's record) in one atomic step of the store; a replay is
    // answered even when restocking again would now pass the maximum. The gateway's deadline is
    // checked in that step too (fixdl): an unkeyed restock landing after it, once the client had
    // checked and resent, counted the stock twice.
    const applyBy = gatewayDeadlineOf(request);
    const outcome = await store.restock(productId, quantity, emit, once, applyBy).catch((error: unknown) => {
      if (error instanceof WriteDeadlineError) throw deadlinePassed(applyBy);
      if (error instanceof InventoryError && error.retryable) {
        // The instance is fine, the product is hot: BUSY, which the gateway does not count against it.
        throw new AppError(
          "BUSY",
          `stock of ${productId} is changing too fast; retry shortly`,
          undefined,
          true,
        );
      }
      throw error;
    });
    // A replay answers the product as it is now, as POST /orders does. A refusal is saved under the
    // key like a success (break10 F1): a replay of it is the same answer, marked as a replay, so a
    // late copy of a refused request never applies.
    const replayed =
      outcome.kind === "replayed" ||
      ((outcome.kind === "missing" || outcome.kind === "over_limit") && outcome.replayed === true);
    if (replayed) markReplayed(reply);
    if (outcome.kind === "missing") throw notFound("product", productId);
    if (outcome.kind === "reused") throw idempotencyKeyReused(RESTOCK_REQUEST_DIFFERS);
    if (outcome.kind === "over_limit") {
      // A 400 like any other bound of the body: the limit is MAX_STOCK_LEVEL units per product.
      throw validationFailed(
        [
          {
            path: "quantity",
            message: `must be at most ${outcome.room}: a product holds at most ${MAX_STOCK_LEVEL}`,
          },
        ],
        `product ${productId} would hold more than ${MAX_STOCK_LEVEL} units`,
      );
    }
    return view(outcome.product);
  });
}
