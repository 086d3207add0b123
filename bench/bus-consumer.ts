/**
 * The library's per-message cost on the consumer and producer hot paths, in the shape the services
 * run it: a trickle of single messages (each publish its own XADD, reads returning a few entries),
 * not the bulk throughput of bench/bus.ts.
 *
 *   npx tsx bench/bus-consumer.ts [--rate 1000] [--messages 10000] [--runs 3] [--consumer lib,raw]
 *                                 [--work lua|none]
 *
 * Each run starts a fresh private redis-server (no persistence), a producer child process
 * publishing `--messages` signed messages one `Publisher.publish` at a time at `--rate` per second,
 * and a consumer in this process:
 * - `lib`: a service started by the service host (`startService` on a Redis platform: signature
 *   check, timing and dedupe-window middleware, metrics, concurrency 64), whose handler does what
 *   the user service does per message with `--work lua`: prepares one event (`ctx.prepare`) and
 *   runs one script writing a dedup mark and XADDing the event; `--work none` does nothing;
 * - `raw`: XREADGROUP COUNT 64 BLOCK, JSON.parse, the same script per message (`--work lua`), one
 *   XACK per read: the least a consumer can do.
 * Prints per message: consumer CPU (µs, this process), producer CPU (µs, the child), redis-server
 * CPU (µs, /proc), Redis commands (INFO commandstats, scripts' inner commands included) and the
 * latency publish → handled. CPU figures vary with the machine's load; commands do not.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { Socket } from "node:net";
import { Redis } from "ioredis";
import { z } from "zod";
import { combineRegistries, defineEvents } from "../src/lib/bus/events.js";
import { DiscoveryEvents } from "../src/contracts/discovery.js";
import { MetricsEvents } from "../src/contracts/metrics.js";
import { Publisher } from "../src/lib/bus/publisher.js";
import { createLogger } from "../src/lib/observability/logger.js";
import { LuaScript } from "../src/lib/redis/index.js";
import { createRedisPlatform } from "../src/lib/runtime/platform.js";
import { startService } from "../src/lib/runtime/service-host.js";
import { Keyring } from "../src/lib/security/keyring.js";
import { createSigner } from "../src/lib/security/signing.js";
import { cpuWindow } from "./proc-cpu.js";
import { commandstats } from "./redis-probe.js";
import {
  type BenchRedis,
  latencyStats,
  median,
  redisServerPid,
  round,
  sleep,
  startBenchRedis,
} from "./support.js";

const SourceEvents = defineEvents("benchsrc", {
  "benchsrc.tick": {
    schema: z.object({ orderId: z.string(), sentAt: z.number(), amount: z.number().int() }),
    description: "benchmark input",
  },
});
const DestEvents = defineEvents("benchdst", {
  "benchdst.done": {
    schema: z.object({ orderId: z.string(), amount: z.number().int() }),
    description: "benchmark output",
  },
});
const Events = combineRegistries(SourceEvents, DestEvents, DiscoveryEvents, MetricsEvents);
const SOURCE_STREAM = "{benchsrc}:ev:benchsrc.tick";
const DONE_STREAM = "{benchdst}:ev:benchdst.done";

/** What a simple service does per message: its dedup mark and its event, in one script. */
const MARK_AND_EMIT = new LuaScript(`
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', 600000) then
  redis.call('XADD', KEYS[2], '*', 't', ARGV[1], 'o', ARGV[2], 'b', ARGV[3])
end
return 1`);

interface Args {
  rate: number;
  messages: number;
  runs: number;
  consumers: string[];
  work: "lua" | "none";
  warmup: number;
  /**
   * Instead of a steady rate: publish this many at once, wait until the consumer has handled them
   * (its output events, so `--work lua`), and so on: read batches of a known size, whatever the load.
   */
  burst: number;
  /** Writes a CPU profile of the measured window (this process) to this file. */
  profile?: string;
}

function parseArgs(argv: readonly string[]): Args & { producer?: string } {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    rate: Number(get("rate") ?? 1000),
    messages: Number(get("messages") ?? 10_000),
    runs: Number(get("runs") ?? 3),
    consumers: (get("consumer") ?? "lib,raw").split(","),
    work: (get("work") ?? "lua") as "lua" | "none",
    warmup: Number(get("warmup") ?? 3000),
    burst: Number(get("burst") ?? 0),
    ...(get("profile") ? { profile: get("profile")! } : {}),
    ...(get("producer") ? { producer: get("producer")! } : {}),
  };
}

/** Socket writes of this process handed to the system (`_write`/`_writev`: one syscall each). */
let socketWrites = 0;
for (const name of ["_write", "_writev"] as const) {
  const proto = Socket.prototype as unknown as Record<string, (...a: never[]) => unknown>;
  const original = proto[name]!;
  proto[name] = function (this: Socket, ...args: never[]) {
    socketWrites++;
    return original.apply(this, args);
  };
}

/** The producer child: publishes signed messages one by one at `rate`, prints its CPU per message. */
async function produce(
  url: string,
  keys: string,
  rate: number,
  warmup: number,
  total: number,
  burst: number,
): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  const watcher = new Redis(url, { maxRetriesPerRequest: null });
  const { RedisStreamsTransport } = await import("../src/lib/bus/transports/redis-streams.js");
  const { MemoryDeadLetterStore } = await import("../src/lib/dlq/memory-dead-letter-store.js");
  const transport = new RedisStreamsTransport({ redis, deadLetters: new MemoryDeadLetterStore() });
  const publisher = new Publisher({
    events: SourceEvents,
    transport,
    source: { service: "benchsrc", instance: "p1" },
    signer: createSigner(Keyring.parse(keys), "benchsrc"),
  });
  await redis.ping();
  const inFlight = new Set<Promise<unknown>>();
  let seq = 0;
  let lastDone = "0";
  /** Bursts: `burst` messages at once, then waits for the consumer's `burst` output events. */
  const sendBursts = async (count: number) => {
    for (let sent = 0; sent < count; sent += burst) {
      const n = Math.min(burst, count - sent);
      const published = [];
      for (let i = 0; i < n; i++)
        published.push(
          publisher.publish("benchsrc.tick", {
            orderId: `o-${seq++}`,
            sentAt: performance.timeOrigin + performance.now(),
            amount: 1,
          }),
        );
      await Promise.all(published);
      for (let seen = 0; seen < n;) {
        const reply = (await watcher.xread("BLOCK", 0, "STREAMS", DONE_STREAM, lastDone)) as
          [string, [string, string[]][]][] | null;
        const entries = reply?.[0]?.[1] ?? [];
        seen += entries.length;
        lastDone = entries.at(-1)?.[0] ?? lastDone;
      }
    }
  };
  const send = async (count: number) => {
    if (burst > 0) return sendBursts(count);
    const start = performance.now();
    let sent = 0;
    while (sent < count) {
      const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        const p = publisher.publish("benchsrc.tick", {
          orderId: `o-${seq++}`,
          sentAt: performance.timeOrigin + performance.now(),
          amount: 1,
        });
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
      }
      await sleep(1);
    }
    await Promise.all(inFlight);
  };
  await send(warmup);
  // The measured part starts when the consumer has handled the warm-up and says "go".
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const cpu = process.cpuUsage();
  await send(total);
  const used = process.cpuUsage(cpu);
  process.stdout.write(JSON.stringify({ cpuMicros: (used.user + used.system) / total }) + "\n");
  redis.disconnect();
  watcher.disconnect();
}

interface RunResult {
  consumer: string;
  consumerMicros: number;
  /** Of which in the kernel (system time): socket writes and reads, mostly. */
  consumerSysMicros: number;
  /** Socket writes of the consumer process per message. */
  writes: number;
  producerMicros: number;
  redisMicros: number;
  commands: Record<string, number>;
  p50: number;
  p99: number;
}

/**
 * The benchmarks' private redis-server (removed on Ctrl-C), without persistence: the Redis CPU per
 * message is the commands' work, not the AOF's. With REDIS_URL, that Redis as it is (the Redis CPU
 * figure needs it on this machine). Its pid, for its CPU in /proc.
 */
async function startRedis(): Promise<BenchRedis & { pid: number }> {
  const server = await startBenchRedis();
  const admin = new Redis(server.url);
  try {
    // Not a leftover: startBenchRedis starts every private server with AOF (everysec, as in
    // production) for the whole-system benchmarks, while this one measures the commands' Redis CPU
    // per message without the AOF's writes, as it did with its own `--appendonly no` server before
    // it shared that starter (3d18bbf). Switched off before any data: nothing to rewrite. A
    // REDIS_URL's Redis is measured as it is configured.
    if (!process.env.REDIS_URL) await admin.config("SET", "appendonly", "no");
    const pid = await redisServerPid(admin);
    return { ...server, pid };
  } finally {
    admin.disconnect();
  }
}

async function run(consumer: string, args: Args): Promise<RunResult> {
  const server = await startRedis();
  const admin = new Redis(server.url);
  const secret = () => randomBytes(32).toString("base64");
  const keys = `benchsrc:ksrc${process.pid}:${secret()},benchdst:kdst${process.pid}:${secret()}`;
  const keyring = Keyring.parse(keys);
  const latencies: number[] = [];
  let handled = 0;
  const record = (sentAt: number) => {
    latencies.push(performance.timeOrigin + performance.now() - sentAt);
    handled++;
  };
  let stopConsumer: () => Promise<void>;
  if (consumer === "lib") {
    const platform = createRedisPlatform({ url: server.url });
    const redis = platform.redis!;
    const devNull = { write: () => true } as unknown as NodeJS.WritableStream;
    const service = await startService(
      {
        name: "benchdst",
        version: "0",
        create: (deps) => {
          const subscriber = deps.subscriber();
          subscriber.on("benchsrc.tick", async (payload, ctx) => {
            if (args.work === "lua") {
              const { message } = ctx.prepare("benchdst.done", {
                orderId: payload.orderId,
                amount: payload.amount,
              });
              await MARK_AND_EMIT.run(
                redis,
                [`{benchdst}:mark:${payload.orderId}`, DONE_STREAM],
                [message.topic, message.owner, message.body],
              );
            }
            record(payload.sentAt);
          });
          return { subscribers: [subscriber] };
        },
      },
      {
        events: Events,
        platform,
        keyring,
        logger: createLogger({ service: "benchdst", level: "info", destination: devNull as never }),
      },
    );
    stopConsumer = async () => {
      await service.stop();
      await platform.close();
      redis.disconnect();
    };
  } else {
    const redis = new Redis(server.url, { maxRetriesPerRequest: null });
    const reader = new Redis(server.url, { maxRetriesPerRequest: null });
    await redis.xgroup("CREATE", SOURCE_STREAM, "g", "0", "MKSTREAM");
    let running = true;
    const loop = (async () => {
      while (running) {
        const reply = (await reader.xreadgroup(
          "GROUP",
          "g",
          "c",
          "COUNT",
          64,
          "BLOCK",
          200,
          "STREAMS",
          SOURCE_STREAM,
          ">",
        )) as [string, [string, string[]][]][] | null;
        if (!reply) continue;
        const ids: string[] = [];
        const work: Promise<unknown>[] = [];
        for (const [, entries] of reply)
          for (const [id, fields] of entries) {
            const body = JSON.parse(fields[fields.indexOf("b") + 1]!) as {
              payload: { orderId: string; sentAt: number };
            };
            ids.push(id);
            if (args.work === "lua")
              work.push(
                MARK_AND_EMIT.run(
                  redis,
                  [`{benchdst}:mark:${body.payload.orderId}`, DONE_STREAM],
                  ["benchdst.done", "benchdst", fields[fields.indexOf("b") + 1]!],
                ),
              );
            record(body.payload.sentAt);
          }
        await Promise.all(work);
        await redis.xack(SOURCE_STREAM, "g", ...ids);
      }
    })();
    stopConsumer = async () => {
      running = false;
      await loop;
      redis.disconnect();
      reader.disconnect();
    };
  }
  const producer = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      new URL(import.meta.url).pathname,
      "--producer",
      server.url,
      "--keys",
      keys,
      "--rate",
      String(args.rate),
      "--messages",
      String(args.messages),
      "--warmup",
      String(args.warmup),
      "--burst",
      String(args.burst),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let out = "";
  producer.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => producer.once("exit", r));
  while (handled < args.warmup) await sleep(5);
  await sleep(200);
  latencies.length = 0;
  handled = 0;
  await admin.config("RESETSTAT");
  const redisCpu = cpuWindow([server.pid]);
  const session = args.profile ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.start");
  }
  const cpu = process.cpuUsage();
  const writesBefore = socketWrites;
  producer.stdin.write("go\n");
  while (handled < args.messages) await sleep(5);
  const used = process.cpuUsage(cpu);
  const writes = socketWrites - writesBefore - 1; // less the "go" to the producer
  const redisSeconds = redisCpu.stop();
  if (session) {
    const { profile } = (await session.post("Profiler.stop")) as { profile: object };
    writeFileSync(args.profile!, JSON.stringify(profile));
    session.disconnect();
  }
  const commands = await commandstats(admin);
  await exited;
  await stopConsumer();
  admin.disconnect();
  await server.stop();
  const stats = latencyStats(latencies);
  const perMessage: Record<string, number> = {};
  for (const [name, calls] of commands)
    if (!["config", "info", "ping", "client|setinfo", "hello"].includes(name))
      perMessage[name] = round(calls / args.messages, 2);
  return {
    consumer,
    consumerMicros: round((used.user + used.system) / args.messages, 1),
    consumerSysMicros: round(used.system / args.messages, 1),
    writes: round(writes / args.messages, 2),
    producerMicros: round((JSON.parse(out.trim()) as { cpuMicros: number }).cpuMicros, 1),
    redisMicros: round((redisSeconds / args.messages) * 1e6, 1),
    commands: perMessage,
    p50: stats.p50,
    p99: stats.p99,
  };
}

const args = parseArgs(process.argv.slice(2));
if (args.producer) {
  const argv = process.argv.slice(2);
  const keys = argv[argv.indexOf("--keys") + 1]!;
  await produce(args.producer, keys, args.rate, args.warmup, args.messages, args.burst);
  process.exit(0);
} else {
  const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  console.log(
    `${args.burst > 0 ? `bursts of ${args.burst}` : `rate ${args.rate}/s`}, ${args.messages} messages, work ${args.work}, ${args.runs} runs; load ${load()}`,
  );
  const results = new Map<string, RunResult[]>();
  for (let i = 0; i < args.runs; i++)
    for (const consumer of args.consumers) {
      const r = await run(consumer, args);
      results.set(consumer, [...(results.get(consumer) ?? []), r]);
      console.log(JSON.stringify(r));
    }
  for (const [consumer, rs] of results) {
    console.log(
      `${consumer}: consumer ${median(rs.map((r) => r.consumerMicros))} µs/msg (sys ${median(
        rs.map((r) => r.consumerSysMicros),
      )}), reads ${median(rs.map((r) => r.commands.xreadgroup ?? 0))}/msg, ${median(
        rs.map((r) => r.writes),
      )} socket writes/msg, producer ${median(
        rs.map((r) => r.producerMicros),
      )} µs/msg, redis ${median(rs.map((r) => r.redisMicros))} µs/msg, p50 ${median(
        rs.map((r) => r.p50),
      )} ms, p99 ${median(rs.map((r) => r.p99))} ms (medians of ${rs.length})`,
    );
  }
  console.log(`load ${load()}`);
}
