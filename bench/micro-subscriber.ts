/**
 * In-process cost of the library's per-message JS, without Redis: Subscriber.handle (signature
 * check, decode, validation, context, service-host middleware) and one ctx.prepare, for N messages.
 *   npx tsx bench/micro-subscriber.ts [N]
 */
import { z } from "zod";
import { defineEvents, combineRegistries } from "../src/lib/bus/events.js";
import { Publisher } from "../src/lib/bus/publisher.js";
import { Subscriber } from "../src/lib/bus/subscriber.js";
import type { Delivery, DeliveryHandler, Transport } from "../src/lib/bus/transport.js";
import { Keyring } from "../src/lib/security/keyring.js";
import { createSigner, createVerifier } from "../src/lib/security/signing.js";
import { createSubscriberTimingMiddleware } from "../src/lib/bus/middleware/timing.js";
import { createDedupeWindowMiddleware } from "../src/lib/bus/middleware/dedupe-window.js";
import { createTracingPublisherMiddleware } from "../src/lib/bus/middleware/tracing.js";
import { Metrics } from "../src/lib/observability/metrics.js";
import { createLogger } from "../src/lib/observability/logger.js";
import type { BusLogger } from "../src/lib/bus/context.js";

const Src = defineEvents("benchsrc", {
  "benchsrc.tick": {
    schema: z.object({ orderId: z.string(), sentAt: z.number(), amount: z.number().int() }),
    description: "in",
  },
});
const Dst = defineEvents("benchdst", {
  "benchdst.done": {
    schema: z.object({ orderId: z.string(), amount: z.number().int() }),
    description: "out",
  },
});
const Events = combineRegistries(Src, Dst);
const keyring = Keyring.generate(["benchsrc", "benchdst"]);
let handler: DeliveryHandler | undefined;
const transport = {
  kind: "redis-streams",
  durable: true,
  ensureGroups: async () => {},
  publish: async () => {},
  subscribe: async (_o: unknown, h: DeliveryHandler) => {
    handler = h;
    return { stop: async () => {} };
  },
  redeliver: async () => {},
  consumers: async () => [],
  close: async () => {},
} as unknown as Transport;
const producer = new Publisher({
  events: Src,
  transport,
  source: { service: "benchsrc", instance: "p" },
  signer: createSigner(keyring, "benchsrc"),
});
const publisher = new Publisher({
  events: Dst,
  transport,
  source: { service: "benchdst", instance: "c" },
  signer: createSigner(keyring, "benchdst"),
  middleware: [createTracingPublisherMiddleware("redis")],
});
const metrics = new Metrics({ service: "benchdst" });
const devNull = { write: () => true } as unknown as NodeJS.WritableStream;
const logger = createLogger({ service: "benchdst", level: "info", destination: devNull as never });
const sub = new Subscriber({
  events: Events,
  transport,
  group: "benchdst",
  consumer: "c",
  publisher: publisher as never,
  verifier: createVerifier(keyring),
  logger: logger as unknown as BusLogger,
  middleware: [
    createSubscriberTimingMiddleware((event, ms, outcome) => metrics.recordEvent(event, outcome, ms)),
    createDedupeWindowMiddleware({ windowMs: 86_400_000 }),
  ],
});
let out = 0;
sub.on("benchsrc.tick", async (payload, ctx) => {
  const { message } = ctx.prepare("benchdst.done", { orderId: payload.orderId, amount: payload.amount });
  out += message.body.length;
});
await sub.start();
const N = Number(process.argv[2] ?? 50_000);
const bodies = Array.from(
  { length: 1000 },
  (_, i) =>
    producer.prepare("benchsrc.tick", { orderId: `o-${i}`, sentAt: Date.now(), amount: 1 }).message.body,
);
const delivery = (body: string): Delivery => ({
  deliveryId: "1-0",
  topic: "benchsrc.tick",
  owner: "benchsrc",
  body,
  attempt: 1,
  waitedAttempts: 0,
  silentDeliveries: 0,
  deliveryCount: 1,
  replay: false,
  enqueuedAt: Date.now(),
  firstDeliveredAt: Date.now(),
  ageMs: () => 1,
  ack: async () => {},
  retry: async () => {},
  defer: async () => {},
  deadLetter: async () => {},
});
const round = async (n: number) => {
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = 0; j < 100; j++) batch.push(handler!(delivery(bodies[(i + j) % 1000]!)));
    await Promise.all(batch);
  }
};
await round(20_000);
const cpu = process.cpuUsage();
await round(N);
const used = process.cpuUsage(cpu);
const prep = process.cpuUsage();
for (let i = 0; i < N; i++) producer.prepare("benchsrc.tick", { orderId: `o-${i}`, sentAt: 1, amount: 1 });
const prepUsed = process.cpuUsage(prep);
console.log(
  `subscriber path ${((used.user + used.system) / N).toFixed(2)} µs/msg; publisher.prepare ${(
    (prepUsed.user + prepUsed.system) /
    N
  ).toFixed(
    2,
  )} µs/msg (${out > 0 ? "ok" : "?"}); load ${(await import("node:fs")).readFileSync("/proc/loadavg", "utf8").split(" ")[0]}`,
);
