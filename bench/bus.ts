/**
 * Bus benchmark: publish-to-handled throughput and latency through the library's Redis Streams
 * transport, against the same work done with raw Redis commands (XADD pipelined, XREADGROUP, XACK),
 * in the same run on the same Redis.
 */
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { z } from "zod";
import { defineEvents } from "../src/lib/bus/events.js";
import { createTracingPublisherMiddleware, instrumentTransport } from "../src/lib/bus/middleware/tracing.js";
import { Publisher } from "../src/lib/bus/publisher.js";
import { Subscriber } from "../src/lib/bus/subscriber.js";
import { RedisStreamsTransport } from "../src/lib/bus/transports/redis-streams.js";
import { MemoryDeadLetterStore } from "../src/lib/dlq/memory-dead-letter-store.js";
import { FieldCipher } from "../src/lib/security/encryption.js";
import {
  generateTokenKeys,
  MemoryTokenKeyStore,
  tokenOpenerFromEnv,
  tokenSealerFromEnv,
} from "../src/lib/security/payment-token.js";
import { Keyring } from "../src/lib/security/keyring.js";
import { createSigner, createVerifier } from "../src/lib/security/signing.js";
import { type LatencyStats, latencyStats, round, sleep } from "./support.js";

const BenchEvents = defineEvents("bench", {
  "bench.tick": {
    schema: z.object({
      seq: z.number().int(),
      sentAt: z.number(),
      orderId: z.string(),
      amount: z.number().int(),
      /** Only in the security comparison: a token-like field, sealed (AES-256-GCM) when secured. */
      secret: z.string().optional(),
    }),
    description: "benchmark message",
  },
});

export interface BusResult {
  label: string;
  messages: number;
  seconds: number;
  perSecond: number;
  latency: LatencyStats;
  /** CPU time of this process (user + system) per message, µs: less load-sensitive than msgs/s. */
  cpuMicros?: number;
}

const BATCH = 100;

const ENVELOPE_TEMPLATE = {
  event: "bench.tick",
  version: 1,
  source: { service: "bench", instance: "b1" },
  correlationId: "01a20c5e-0000-7000-8000-000000000000",
  traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  attributes: {},
};

/** Throughput: publish `total` messages in batches as fast as possible; time until all are handled. */
export async function rawStreams(url: string, total: number, ratePerSec?: number): Promise<BusResult> {
  const producer = new Redis(url);
  const consumer = new Redis(url);
  const key = `{raw}:ev:bench.tick:${Date.now()}`;
  await producer.xgroup("CREATE", key, "g", "0", "MKSTREAM");
  const latencies: number[] = [];
  let handled = 0;
  let running = true;
  const loop = (async () => {
    while (running && handled < total) {
      const res = (await consumer.xreadgroup(
        "GROUP",
        "g",
        "c",
        "COUNT",
        256,
        "BLOCK",
        100,
        "STREAMS",
        key,
        ">",
      )) as [string, [string, string[]][]][] | null;
      if (!res) continue;
      const ids: string[] = [];
      for (const [, entries] of res) {
        for (const [id, fields] of entries) {
          const body = JSON.parse(fields[1]!) as { payload: { sentAt: number } };
          latencies.push(performance.now() - body.payload.sentAt);
          ids.push(id);
          handled++;
        }
      }
      await consumer.xack(key, "g", ...ids);
    }
  })();
  const started = performance.now();
  await publishPaced(total, ratePerSec, async (from, count) => {
    const pipeline = producer.pipeline();
    for (let i = 0; i < count; i++) {
      // The same envelope the library sends, so both paths move and parse the same bytes.
      const body = JSON.stringify({
        ...ENVELOPE_TEMPLATE,
        id: `01a20c5e-0000-7000-8000-${String(from + i).padStart(12, "0")}`,
        occurredAt: new Date().toISOString(),
        payload: { seq: from + i, sentAt: performance.now(), orderId: "o", amount: 1 },
      });
      pipeline.xadd(key, "*", "b", body);
    }
    await pipeline.exec();
  });
  while (handled < total) await sleep(2);
  const seconds = (performance.now() - started) / 1000;
  running = false;
  await loop;
  await producer.del(key);
  producer.disconnect();
  consumer.disconnect();
  return {
    label: "raw Redis (XADD / XREADGROUP / XACK, same envelope JSON)",
    messages: total,
    seconds: round(seconds, 3),
    perSecond: Math.round(total / seconds),
    latency: latencyStats(latencies),
  };
}

export interface LibraryRun {
  label?: string;
  /** Ms between lease renewals (the transport's default when undefined). */
  renewIntervalMs?: number;
  /** Simulated I/O per handler (ms), so many entries are in flight across renewals. */
  handlerMs?: number;
  /**
   * The security comparison (bench/bus-security.ts): every message carries a token-like field.
   * "clear": unsigned, the field in clear; "signed": each envelope signed (HMAC-SHA256) and verified
   * before handling; "sealed": signed as well, and the field sealed on publish and opened in the
   * handler (AES-256-GCM). Undefined: no such field, unsigned (the plain library row).
   */
  security?: "clear" | "signed" | "sealed";
  /**
   * With "sealed": the field is sealed (and opened) in one message of every `sealEvery` (the message
   * whose `seq` is a multiple of it), in clear in the others; default 1 (every message).
   */
  sealEvery?: number;
  /**
   * With "sealed", how: "field" (default) one `FieldCipher` key (AES-256-GCM); "token" the payment
   * token's scheme as the system runs it (src/lib/security/payment-token.ts: a per-order data key from
   * the batch's X25519 agreement and the token's own entry secret, the entry kept in a memory store
   * here, in Redis in the system; opened by the handler, then shredded as the saga's end does).
   */
  sealWith?: "field" | "token";
  /** Wire the tracing wrappers as the service host does (they are no-ops while tracing is off). */
  traced?: boolean;
}

const SECRET = "tok_bench__0123456789abcdef";

/** How a run seals the token-like field and opens it in the handler (LibraryRun.sealWith). */
interface Sealing {
  orderId(seq: number): string;
  seal(orderId: string): string | Promise<string>;
  open(payload: { orderId: string; secret?: string }): string | Promise<string>;
}

const fieldSealing = (cipher: FieldCipher): Sealing => ({
  orderId: () => "o",
  seal: (orderId) => cipher.seal(SECRET, orderId),
  open: ({ orderId, secret }) => cipher.open(secret!, orderId),
});

/** One payment key pair per process, as a deployment has (made once: key generation is not measured). */
let tokenKeys: ReturnType<typeof generateTokenKeys> | undefined;

function tokenSealing(): Sealing {
  tokenKeys ??= generateTokenKeys("bench");
  const env = { ...tokenKeys, NODE_ENV: "production" };
  const store = new MemoryTokenKeyStore();
  const sealer = tokenSealerFromEnv(store, env);
  const opener = tokenOpenerFromEnv(store, env);
  return {
    orderId: (seq) => `o-${seq}`,
    seal: (orderId) => sealer.seal(orderId, SECRET),
    async open({ orderId, secret }) {
      const token = await opener.open(orderId, secret!);
      await sealer.shred(orderId);
      return token;
    },
  };
}

export async function libraryStreams(
  url: string,
  total: number,
  ratePerSec?: number,
  run: LibraryRun = {},
): Promise<BusResult> {
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const transport = new RedisStreamsTransport({
    redis,
    deadLetters: new MemoryDeadLetterStore(),
    ...(run.renewIntervalMs === undefined ? {} : { renewIntervalMs: run.renewIntervalMs }),
  });
  const secured = run.security === "signed" || run.security === "sealed";
  const sealed = run.security === "sealed";
  const keyring = Keyring.generate(["bench"]);
  const cipher = new FieldCipher([{ kid: "bench-1", secret: randomBytes(32) }]);
  const publisher = new Publisher({
    events: BenchEvents,
    transport,
    source: { service: "bench", instance: "b1" },
    signer: secured ? createSigner(keyring, "bench") : null,
    ...(run.traced ? { middleware: [createTracingPublisherMiddleware()] } : {}),
  });
  const latencies: number[] = [];
  let handled = 0;
  // Resolved by the last handler: no polling timer spends the measured process's CPU meanwhile.
  let allHandled = () => {};
  const finished = new Promise<void>((resolve) => (allHandled = resolve));
  const group = `lib-${Date.now()}`;
  const subscriber = new Subscriber({
    events: BenchEvents,
    transport: run.traced ? instrumentTransport(transport, { group }) : transport,
    group,
    consumer: "c",
    concurrency: 256,
    // Unsigned runs are unverified on purpose: no start-up warning that reads like a defect (newuser19 F4).
    verifier: secured ? createVerifier(keyring) : null,
  });
  const handlerMs = run.handlerMs ?? 0;
  const sealEvery = run.sealEvery ?? 1;
  const sealsAt = (seq: number) => sealed && seq % sealEvery === 0;
  const sealing = run.sealWith === "token" ? tokenSealing() : fieldSealing(cipher);
  subscriber.on("bench.tick", async (payload) => {
    if (payload.secret !== undefined && sealsAt(payload.seq) && (await sealing.open(payload)) !== SECRET)
      throw new Error("secret did not round-trip");
    if (handlerMs > 0) await sleep(handlerMs);
    latencies.push(performance.now() - payload.sentAt);
    if (++handled === total) allHandled();
  });
  await subscriber.start();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await publishPaced(total, ratePerSec, async (from, count) => {
    const batch = [];
    for (let i = 0; i < count; i++) {
      const seq = from + i;
      const orderId = sealsAt(seq) ? sealing.orderId(seq) : "o";
      // No await for a field cipher's seal (synchronous): the all-sealed row pays no microtask per message.
      const sealedNow = sealsAt(seq) ? sealing.seal(orderId) : SECRET;
      const secret = typeof sealedNow === "string" ? sealedNow : await sealedNow;
      batch.push(
        publisher.prepare("bench.tick", {
          seq,
          sentAt: performance.now(),
          orderId,
          amount: 1,
          ...(run.security === undefined ? {} : { secret }),
        }),
      );
    }
    await publisher.send(batch);
  });
  await finished;
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await subscriber.stop();
  await transport.close();
  await redis.del("{bench}:ev:bench.tick");
  redis.disconnect();
  return {
    label: run.label ?? "library (Publisher → Streams → Subscriber)",
    messages: total,
    seconds: round(seconds, 3),
    perSecond: Math.round(total / seconds),
    latency: latencyStats(latencies),
    cpuMicros: round((cpu.user + cpu.system) / total, 1),
  };
}

/** Sends `total` messages in batches of BATCH; with a rate, spreads the batches evenly over time. */
async function publishPaced(
  total: number,
  ratePerSec: number | undefined,
  sendBatch: (from: number, count: number) => Promise<void>,
): Promise<void> {
  const start = performance.now();
  for (let sent = 0; sent < total; sent += BATCH) {
    if (ratePerSec) {
      const due = start + (sent / ratePerSec) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
    }
    await sendBatch(sent, Math.min(BATCH, total - sent));
  }
}

export async function benchBus(
  url: string,
): Promise<{ throughput: BusResult[]; paced: BusResult[]; rate: number }> {
  const total = Number(process.env.BENCH_MESSAGES ?? 100_000);
  const rate = 10_000;
  const pacedTotal = rate * 3;
  // Warm up both paths (JIT, connections), then measure.
  await rawStreams(url, 5_000);
  await libraryStreams(url, 5_000);
  const throughput = [await rawStreams(url, total), await libraryStreams(url, total)];
  const paced = [await rawStreams(url, pacedTotal, rate), await libraryStreams(url, pacedTotal, rate)];
  return { throughput, paced, rate };
}
