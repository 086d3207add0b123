import { AddProductBody, RestockBody } from "../../contracts/http.js";
import { InventoryListQuery } from "../../services/inventory/routes.js";
import type { ProxyRoute } from "./types.js";

const tag = "Inventory";

export const inventoryRoutes: ProxyRoute[] = [
  {
    method: "GET",
    url: "/inventory",
    service: "inventory",
    tag,
    summary: "List the catalog with stock levels by productId, a page at a time (cursor in, nextCursor out)",
    query: InventoryListQuery,
    responses: { 200: "{ products: [...], nextCursor? } by productId", 400: "Invalid limit or cursor" },
  },
  {
    method: "POST",
    url: "/inventory",
    service: "inventory",
    tag,
    summary: "Add a product",
    body: AddProductBody,
    responses: { 201: "The product", 400: "Invalid body", 409: "Product already exists" },
  },
  {
    method: "GET",
    url: "/inventory/:productId",
    service: "inventory",
    tag,
    summary: "Get product stock",
    responses: { 200: "{ productId, name, price, available, reserved, ... }", 404: "No such product" },
  },
  {
    method: "POST",
    url: "/inventory/:productId/restock",
    service: "inventory",
    tag,
    summary: "Restock product (send an Idempotency-Key header to make retries safe)",
    body: RestockBody,
    idempotencyKey: true,
    responses: {
      200: "The product after restocking (a replay: its current levels, Idempotent-Replayed: true)",
      400: "Invalid body",
      404: "No such product",
      422: "Idempotency-Key reused for another product or with a different body",
    },
  },
];
