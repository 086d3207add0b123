/**
 * Test fixture (dev-secrets.first-start.redis.test.ts, break-late7 F1): one launcher's first step in
 * its own process. Blocks on BLPOP of `RACE_BARRIER_KEY` so several start at the same moment, then
 * calls devSecretsFor over REDIS_URL exactly as start-services.ts does and prints one JSON line:
 * `{ ok: true, created, gateway }` or `{ ok: false, error }`.
 */
import { Redis } from "ioredis";
import { devSecretsFor } from "./dev-secrets.js";

const url = process.env.REDIS_URL!;
const barrier = new Redis(url);
const redis = new Redis(url);
await redis.ping();
await barrier.blpop(process.env.RACE_BARRIER_KEY!, 0);
try {
  const kept = await devSecretsFor(redis, url);
  console.log(
    JSON.stringify({ ok: true, created: kept.created, gateway: kept.settings.GATEWAY_SHARED_SECRET }),
  );
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error) }));
}
barrier.disconnect();
redis.disconnect();
