import { AllEvents } from "../../contracts/index.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { inventoryService } from "./service.js";

await runServiceMain(inventoryService, { events: AllEvents, defaultPort: 3003 });
