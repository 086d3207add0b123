import { AllEvents } from "../../contracts/index.js";
import { runServiceMain } from "../../lib/runtime/main.js";
import { paymentService } from "./service.js";

await runServiceMain(paymentService, { events: AllEvents, defaultPort: 3004 });
