/**
 * A consumer process for tests over real processes (consumer-processes.redis.test.ts). Env: REDIS_URL;
 * GROUP (default "crashy"); CONSUMER (default: the default INSTANCE_ID of service GROUP, which
 * honours INSTANCE_SLOT); BEHAVIOUR "exit" (the handler kills the process, as an out-of-memory kill
 * would: it never throws, so only the delivery count can tell), "ack", or "exitslow" (the message
 * with sku "poison" exits the process after 300 ms, every other one takes 1.5 s, then returns).
 * "slowpoison" (sku "poison" exits the process after POISON_MS, every other one returns at once,
 * counted in hash `done`), or "flaky" (must-complete; each run of sku "flaky" counts itself in
 * key `flaky`: odd runs throw, even ones exit the process), or "hang" (each run of sku "hang" counts
 * itself in key `hungRuns` and never returns, every other one returns at once, counted in hash
 * `done`, its time handled (epoch ms) in hash `handledAt`), or "slow" (each run of sku "slow" counts
 * itself in key `slowRuns`, takes SLOW_MS, heedless of its lease, then counts its effect in key
 * `slowEffects` and returns; every other one as with "hang"), or "pace" (a run of a sku starting
 * with "slow" notes its consumer in hash `startedBy`, takes SLOW_MS, heedless of its lease; every
 * run, slow or not, then counts itself in hash `done` and its time handled (epoch ms) in hash
 * `handledAt`, and returns).
 * SLOW_GROUP: a second subscription in the process (started first), of that group, whose handler
 * takes 1.5 s on every message, then returns. ISOLATION_MS, MAX_LEASE_MS: the transport's options;
 * CLAIM_IDLE_MS: its `claimIdleMs` (default 300 ms: quick takeovers of a killed process's entries;
 * a live process descheduled that long on a loaded machine loses its leases too, see
 * hung-handlers.redis.test.ts); RENEW_MS: its `renewIntervalMs`; MAX_SILENT:
 * `retry.maxSilentDeliveries`; CONCURRENCY: the subscription's handler slots. Prints "ready" once
 * subscribed.
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
  claimIdleMs: Number(process.env.CLAIM_IDLE_MS ?? 300),
  blockMs: 200,
  ...(process.env.ISOLATION_MS ? { isolationMs: Number(process.env.ISOLATION_MS) } : {}),
  ...(process.env.MAX_LEASE_MS ? { maxLeaseMs: Number(process.env.MAX_LEASE_MS) } : {}),
  ...(process.env.RENEW_MS ? { renewIntervalMs: Number(process.env.RENEW_MS) } : {}),
});
const behaviour = process.env.BEHAVIOUR ?? "exit";
const consumer = process.env.CONSUMER ?? newInstanceId(group);
// First, so that it has its delivery in hand when the other subscription's handler exits.
const slowGroup = process.env.SLOW_GROUP;
if (slowGroup)
  await new Subscriber({ events: TestEvents, transport, group: slowGroup, consumer: "slow-1" })
    .on("item.added", () => new Promise((r) => setTimeout(r, 1_500)))
    .start();
await new Subscriber({
  events: TestEvents,
  transport,
  group,
  consumer,
  ...(process.env.CONCURRENCY ? { concurrency: Number(process.env.CONCURRENCY) } : {}),
  ...(process.env.MAX_SILENT ? { retry: { maxSilentDeliveries: Number(process.env.MAX_SILENT) } } : {}),
  mustComplete: { baseDelayMs: 100, maxDelayMs: 100 },
})
  .on(
    "item.added",
    async (payload) => {
      if (behaviour === "exit") process.exit(7);
      if (behaviour === "pace") {
        if (payload.sku.startsWith("slow")) {
          await redis.hset("startedBy", payload.sku, consumer);
          await new Promise((r) => setTimeout(r, Number(process.env.SLOW_MS)));
        }
        await redis.multi().hincrby("done", payload.sku, 1).hset("handledAt", payload.sku, Date.now()).exec();
        return;
      }
      if (behaviour === "flaky") {
        if ((await redis.incr("flaky")) % 2 === 1) throw new Error("flaky: fails on odd runs");
        process.exit(7);
      }
      if ((behaviour === "hang" || behaviour === "slow") && payload.sku !== behaviour) {
        await redis.multi().hincrby("done", payload.sku, 1).hset("handledAt", payload.sku, Date.now()).exec();
        return;
      }
      if (behaviour === "hang") {
        await redis.incr("hungRuns");
        return new Promise(() => {});
      }
      if (behaviour === "slow") {
        await redis.incr("slowRuns");
        await new Promise((r) => setTimeout(r, Number(process.env.SLOW_MS)));
        return void (await redis.incr("slowEffects"));
      }
      if (behaviour === "slowpoison") {
        if (payload.sku !== "poison") return void (await redis.hincrby("done", payload.sku, 1));
        setTimeout(() => process.exit(7), Number(process.env.POISON_MS));
        return new Promise(() => {});
      }
      if (behaviour !== "exitslow") return;
      if (payload.sku === "poison") setTimeout(() => process.exit(7), 300);
      await new Promise((r) => setTimeout(r, payload.sku === "poison" ? 60_000 : 1_500));
    },
    behaviour === "flaky" ? { policy: "must-complete" } : {},
  )
  .start();
process.stdout.write("ready\n");
