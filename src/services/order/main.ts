import { z } from "zod";
import { AllEvents } from "../../contracts/index.js";
import { parseEnv } from "../../lib/runtime/config.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { createOrderService } from "./service.js";

/** `ORDER_CACHE_SIZE`: folded orders kept in memory per repository (default 10,000). */
const env = parseEnv(z.object({ ORDER_CACHE_SIZE: z.coerce.number().int().positive().optional() }));

await runServiceMain(createOrderService(env.ORDER_CACHE_SIZE ? { cacheSize: env.ORDER_CACHE_SIZE } : {}), {
  events: AllEvents,
  defaultPort: 3002,
});
