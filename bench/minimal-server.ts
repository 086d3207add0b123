/**
 * The yardstick for accepted `POST /orders`: the least a server can do and still accept an order —
 * fastify parses the JSON body, zod validates it with the same `PlaceOrderBody` schema the gateway
 * uses, one `XADD` (the order as JSON) to a stream, a 202 `{ orderId, status: "pending" }`.
 * No auth, no idempotency, no event store, no second hop.
 *
 * Run as its own process (like the gateway it is compared with): `REDIS_URL=… node --import tsx
 * bench/minimal-server.ts`; prints `listening <url>` on stdout once up; stops on SIGTERM, and when
 * started with an IPC channel, as soon as that channel closes (its parent died). Its stream goes
 * with the benchmark's FLUSHALL.
 */
import { randomUUID } from "node:crypto";
import Fastify from "fastify";
import { Redis } from "ioredis";
import { PlaceOrderBody } from "../src/contracts/http.js";

const STREAM = "{minimal}:orders";
const redis = new Redis(process.env.REDIS_URL ?? "redis://127.0.0.1:6379", { maxRetriesPerRequest: null });
const app = Fastify({ logger: false });

app.post("/orders", async (request, reply) => {
  const parsed = PlaceOrderBody.safeParse(request.body);
  if (!parsed.success) return reply.code(400).send({ error: "VALIDATION_FAILED" });
  const orderId = randomUUID();
  await redis.xadd(STREAM, "*", "o", JSON.stringify({ orderId, ...parsed.data }));
  return reply.code(202).send({ orderId, status: "pending" });
});

const url = await app.listen({ port: 0, host: "127.0.0.1" });
console.log(`listening ${url}`);
const stop = () => {
  redis.disconnect();
  void app.close().finally(() => process.exit(0));
};
process.once("SIGTERM", stop);
process.once("disconnect", stop);
