import { AllEvents } from "../../contracts/index.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { shippingService } from "./service.js";

await runServiceMain(shippingService, { events: AllEvents, defaultPort: 3005 });
