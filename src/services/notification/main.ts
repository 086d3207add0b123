import { AllEvents } from "../../contracts/catalog.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { notificationService } from "./service.js";

await runServiceMain(notificationService, { events: AllEvents, defaultPort: 3006 });
