// A toy registry for the bus library's own tests: the library knows nothing of orders.
import { z } from "zod";
import { combineRegistries, defineEvents } from "./events.js";

export const ShopEvents = defineEvents("shop", {
  "item.added": {
    schema: z.object({ sku: z.string().min(1), quantity: z.number().int().positive() }),
    description: "An item was added",
  },
  "item.removed": { schema: z.object({ sku: z.string().min(1) }), description: "An item was removed" },
});

export const AuditEvents = defineEvents("audit", {
  "audit.noted": {
    schema: z.object({ note: z.string(), level: z.enum(["info", "warn"]).default("info") }),
    description: "Something was noted",
    version: 2,
  },
});

export const TestEvents = combineRegistries(ShopEvents, AuditEvents);
