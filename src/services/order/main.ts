import { AllEvents } from "../../contracts/index.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { orderService } from "./service.js";

await runServiceMain(orderService, { events: AllEvents, defaultPort: 3002 });
