/**
 * A consumer process for tests over real processes (consumer-processes.redis.test.ts). Env: REDIS_URL;
 * GROUP (default "crashy"); CONSUMER (default: the default INSTANCE_ID of service GROUP, which
 * honours INSTANCE_SLOT); BEHAVIOUR "exit" (the handler kills the process, as an out-of-memory kill
 * would: it never throws, so only the delivery count can tell), "ack", or "exitslow" (the message
 * with sku "poison" exits the process after 300 ms, every other one takes 1.5 s, then returns).
 * Prints "ready" once subscribed.
 */
import { Redis } from "ioredis";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { newInstanceId } from "../runtime/service-host.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { RedisStreamsTransport } from "./transports/redis-streams.js";

const group = process.env.GROUP ?? "crashy";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const transport = new RedisStreamsTransport({
  redis,
  deadLetters: new RedisDeadLetterStore(redis),
  claimIdleMs: 300,
  blockMs: 200,
});
const behaviour = process.env.BEHAVIOUR ?? "exit";
await new Subscriber({
  events: TestEvents,
  transport,
  group,
  consumer: process.env.CONSUMER ?? newInstanceId(group),
})
  .on("item.added", async (payload) => {
    if (behaviour === "exit") process.exit(7);
    if (behaviour !== "exitslow") return;
    if (payload.sku === "poison") setTimeout(() => process.exit(7), 300);
    await new Promise((r) => setTimeout(r, payload.sku === "poison" ? 60_000 : 1_500));
  })
  .start();
process.stdout.write("ready\n");
