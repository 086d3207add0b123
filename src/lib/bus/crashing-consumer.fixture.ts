/**
 * A consumer process whose handler kills the process (as an out-of-memory kill would): the child of
 * crash-loop.redis.test.ts. It never throws, so only the delivery count can tell. Env: REDIS_URL,
 * CONSUMER (the same name for every start: one process slot restarted).
 */
import { Redis } from "ioredis";
import { RedisDeadLetterStore } from "../dlq/redis-dead-letter-store.js";
import { Subscriber } from "./subscriber.js";
import { TestEvents } from "./test-events.js";
import { RedisStreamsTransport } from "./transports/redis-streams.js";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const transport = new RedisStreamsTransport({
  redis,
  deadLetters: new RedisDeadLetterStore(redis),
  claimIdleMs: 300,
  blockMs: 200,
});
await new Subscriber({
  events: TestEvents,
  transport,
  group: "crashy",
  consumer: process.env.CONSUMER ?? "slot-1",
})
  .on("item.added", () => {
    process.exit(7);
  })
  .start();
process.stdout.write("ready\n");
