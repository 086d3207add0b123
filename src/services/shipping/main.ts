import { AllEvents } from "../../contracts/index.js";
import { runServiceMain } from "../../lib/runtime/main.js";

// The definition the embedded system runs too (src/system/catalog.ts), loaded inside runServiceMain:
// it reads its variables on import, and a bad one is then reported as one line (exit 1).
await runServiceMain(async () => (await import("./service.js")).shippingService, {
  name: "shipping",
  events: AllEvents,
  defaultPort: 3005,
});
