/**
 * Step 4: the service as its own process (what `npm run start:<service>` runs). Alone over a Redis
 * no system uses, nothing more is needed (it signs and verifies with keys of its own):
 *   REDIS_URL=redis://localhost:6379 node --import tsx examples/loyalty/main.ts
 *
 * Next to a running system (`npm run start:services` over the same Redis) it must verify
 * `order.completed` with the order service's signing key, or it dead-letters every one
 * (`SIGNATURE_INVALID: unknown key id`, README guide step 6): load that system's development
 * secrets (the file its launcher named, `.dev-secrets/<host>_<port>_db<n>.env`), add a signing key
 * of its own (it has none there: "no signing key for service loyalty"), and leave out the gateway's
 * secret (the system's gateway has no /loyalty route, and with the secret its port answers only the
 * gateway, 401), so its points can be read on its own port:
 *   set -a; . .dev-secrets/localhost_6379_db0.env; set +a
 *   BUS_SIGNING_KEYS="$BUS_SIGNING_KEYS,loyalty:lk1:$(node -p 'crypto.randomBytes(32).toString("base64")')" \
 *     GATEWAY_SHARED_SECRET= REDIS_URL=redis://localhost:6379 node --import tsx examples/loyalty/main.ts
 *   curl localhost:3007/loyalty/<userId>       # { "userId": ..., "points": ... } once an order completed
 *   redis-cli GET '{loyalty}:points:<userId>'  # the same number, in Redis
 * Orders dead-lettered before that can be replayed: `POST /dlq/<id>/retry` through the gateway.
 * Stopping it leaves its consumer group `loyalty` on `{order}:ev:order.completed` (durable on
 * purpose: a restart resumes where it stopped). While that group exists the order service trims the
 * stream only below what it has read, so the stream grows with every completed order (the order
 * service logs `consumer group "loyalty" has read nothing ...` after 15 min). Once you stop trying
 * the example, remove the group:
 *   redis-cli XGROUP DESTROY '{order}:ev:order.completed' loyalty
 * Inside the system (guide steps 5-8) the launcher hands it every key and the gateway routes to it.
 */
import { runServiceMain } from "../../src/lib/runtime/main.js";
import { ExampleEvents } from "./events.js";
import { loyaltyService } from "./service.js";

await runServiceMain(loyaltyService, { events: ExampleEvents, defaultPort: 3007 });
