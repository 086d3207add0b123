/**
 * Every route answered by a service instance, in one table: the gateway registers (proxied.ts),
 * documents (openapi.ts) and guards (`isAdminRoute`, auth.ts: its `admin` flags) them from it.
 * Apart from proxied.ts so that auth.ts can read it without an import cycle.
 */
import { inventoryRoutes } from "./inventory.js";
import { notificationRoutes } from "./notifications.js";
import { orderRoutes } from "./orders.js";
import { paymentRoutes } from "./payments.js";
import { shippingRoutes } from "./shipping.js";
import type { ProxyRoute } from "./types.js";
import { userRoutes } from "./users.js";

export const proxyRoutes: readonly ProxyRoute[] = [
  ...userRoutes,
  ...orderRoutes,
  ...inventoryRoutes,
  ...notificationRoutes,
  ...paymentRoutes,
  ...shippingRoutes,
];
