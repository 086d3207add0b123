/**
 * A process that writes orders as fast as it can, with the read models inline, until it is killed
 * (inline-crash.redis.test.ts kills it with SIGKILL mid-append). Env: REDIS_URL, WORKERS (default 8).
 * Prints "ready" once its first order is stored.
 */
import { Redis } from "ioredis";
import { AllEvents } from "../../contracts/index.js";
import { SEALED_TOKEN } from "../../contracts/fixtures.js";
import { Publisher } from "../../lib/bus/publisher.js";
import { MemoryTransport } from "../../lib/bus/transports/memory.js";
import { MemoryDeadLetterStore } from "../../lib/dlq/memory-dead-letter-store.js";
import { createRedisOrderStores } from "./redis-store.js";
import { OrderRepository } from "./repository.js";
import { SagaRunner } from "./saga-runner.js";
import { inlineProjections } from "./store.js";

const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const stores = createRedisOrderStores({ redis });
// Only prepares the commands: they reach Redis as the append's outbox.
const publisher = new Publisher({
  events: AllEvents,
  transport: new MemoryTransport({ deadLetters: new MemoryDeadLetterStore() }),
  source: { service: "order", instance: "crashy" },
});
const runner = new SagaRunner({
  repository: new OrderRepository(stores.events, { inline: inlineProjections(stores) }),
  now: Date.now,
  saga: { stepTimeoutMs: 60_000 },
});

let ready = false;
async function worker(w: number): Promise<never> {
  for (let i = 0; ; i++) {
    const orderId = `w${w}-${i}`;
    const userId = `u-${w}`;
    const items = [{ productId: "sku-1", quantity: 1 }];
    await runner.place(
      { orderId, userId, items, paymentToken: SEALED_TOKEN, correlationId: orderId },
      publisher,
    );
    if (!ready) {
      ready = true;
      console.log("ready");
    }
    const valid = { type: "user.validated", payload: { orderId, userId, valid: true } } as const;
    await runner.run(orderId, valid, publisher);
    if (i % 2 === 0) await runner.run(orderId, { type: "cancel" }, publisher);
  }
}

await Promise.all(Array.from({ length: Number(process.env.WORKERS ?? 8) }, (_, w) => worker(w)));
