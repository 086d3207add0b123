/**
 * Step 4: the service as its own process (what `npm run start:<service>` runs):
 *   REDIS_URL=redis://localhost:6379 node --import tsx examples/loyalty/main.ts
 */
import { runServiceMain } from "../../src/lib/runtime/main.js";
import { ExampleEvents } from "./events.js";
import { loyaltyService } from "./service.js";

await runServiceMain(loyaltyService, { events: ExampleEvents, defaultPort: 3007 });
