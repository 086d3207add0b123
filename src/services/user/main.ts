import { AllEvents } from "../../contracts/catalog.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { userService } from "./service.js";

await runServiceMain(userService, { events: AllEvents, defaultPort: 3001 });
