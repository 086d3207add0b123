// Scratch: signing's cost with the publish and consume phases separated (deterministic batches).
import { Redis } from "ioredis";
import { z } from "zod";
import { defineEvents } from "../../src/lib/bus/events.js";
import { Publisher } from "../../src/lib/bus/publisher.js";
import { Subscriber } from "../../src/lib/bus/subscriber.js";
import { RedisStreamsTransport } from "../../src/lib/bus/transports/redis-streams.js";
import { MemoryDeadLetterStore } from "../../src/lib/dlq/memory-dead-letter-store.js";
import { Keyring } from "../../src/lib/security/keyring.js";
import { createSigner, createVerifier } from "../../src/lib/security/signing.js";
import { startBenchRedis } from "../support.js";
import { generateTokenKeys, MemoryTokenKeyStore, tokenOpenerFromEnv, tokenSealerFromEnv } from "../../src/lib/security/payment-token.js";
const keys = generateTokenKeys("bench");
function tokenSealing() {
  const env = { ...keys, NODE_ENV: "production" }; const store = new MemoryTokenKeyStore();
  const sealer = tokenSealerFromEnv(store, env); const opener = tokenOpenerFromEnv(store, env);
  return { stats: () => opener.agreementStats, seal: (o: string) => sealer.seal(o, "tok_bench__0123456789abcdef"), async open(p: { orderId: string; secret?: string }) { const t = await opener.open(p.orderId, p.secret!); await sealer.shred(p.orderId); return t; } };
}

const Ev = defineEvents("bench", {
  "bench.tick": {
    schema: z.object({ seq: z.number().int(), sentAt: z.number(), orderId: z.string(), amount: z.number().int(), secret: z.string().optional() }),
    description: "x",
  },
});
const FAKE = `,"sig":"${Keyring.generate(["bench"]).current("bench")!.kid}.${"A".repeat(43)}`;
import { PerformanceObserver } from "node:perf_hooks";
let gcMs = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) gcMs += e.duration; }).observe({ entryTypes: ["gc"] });
const cpu = () => { const c = process.cpuUsage(); return c.user + c.system; };
async function redisCpu(r: Redis) { const info = await r.info("cpu"); const f = (n: string) => Number(new RegExp(`${n}:([0-9.]+)`).exec(info)![1]); return (f("used_cpu_user") + f("used_cpu_sys")) * 1e6; }

async function once(url: string, total: number, mode: string) {
  const signed = mode !== "u" && mode !== "b" && mode !== "n";
  const tok = mode === "t" || mode === "o" || mode === "m" ? tokenSealing() : undefined;
  const pre = new Map<string, string>();
  if (mode === "o" || mode === "m") for (let seq = 0; seq < total; seq += 21) pre.set(`o-${seq}`, await tok!.seal(`o-${seq}`));
  const redis = new Redis(url, { maxRetriesPerRequest: null });
  const transport = new RedisStreamsTransport({ redis, deadLetters: new MemoryDeadLetterStore() });
  const keyring = Keyring.generate(["bench"]);
  const publisher = new Publisher({ events: Ev, transport, source: { service: "bench", instance: "b1" }, signer: signed ? createSigner(keyring, "bench") : mode === "b" ? { sign: (b: string) => `${b.slice(0, -1)}${FAKE}"}` } : mode === "n" ? { sign: (b: string) => `${b.slice(0, -1)}}` } : null });
  const group = `g-${Date.now()}-${Math.random()}`;
  let handled = 0; let done = () => {}; const finished = new Promise<void>((r) => (done = r));
  const subscriber = new Subscriber({ events: Ev, transport, group, consumer: "c", concurrency: 256, verifier: signed ? createVerifier(keyring) : mode === "b" || mode === "n" ? { verify: () => "bench" } : null });
  subscriber.on("bench.tick", async (p) => { if (mode === "a" && p.seq % 21 === 0) { await Promise.resolve(); await Promise.resolve(); await Promise.resolve(); } if (tok && mode !== "m" && p.seq % 21 === 0 && (await tok.open(p)) !== "tok_bench__0123456789abcdef") throw new Error("rt"); if (++handled === total) done(); });
  await redis.xgroup("CREATE", "{bench}:ev:bench.tick", group, "$", "MKSTREAM");
  const r0 = await redisCpu(redis); const g0 = gcMs; const c0 = cpu(); const t0 = performance.now();
  for (let s = 0; s < total; s += 100) {
    const batch = [];
    for (let i = 0; i < 100; i++) { const seq = s + i; const sealsNow = tok && seq % 21 === 0; const orderId = sealsNow ? `o-${seq}` : "o"; const secret = sealsNow ? (pre.get(orderId) ?? await tok.seal(orderId)) : "tok_bench__0123456789abcdef"; batch.push(publisher.prepare("bench.tick", { seq, sentAt: performance.now(), orderId, amount: 1, secret })); }
    await publisher.send(batch);
  }
  const cm = cpu(); const tm = performance.now();
  await subscriber.start();
  await finished;
  pub.push((cm - c0) / total); con.push((cpu() - cm) / total);
  const c1 = cpu(); const t1 = performance.now(); const r1 = await redisCpu(redis);
  if (tok) console.error(mode, "agreements", JSON.stringify(tok.stats()));
  await subscriber.stop(); await transport.close(); await redis.del("{bench}:ev:bench.tick"); redis.disconnect();
  await new Promise((r) => setImmediate(r)); return { cpu: (c1 - c0) / total, redis: ((gcMs - g0) * 1000) / total, wall: ((t1 - t0) * 1000) / total };
}

const pub: number[] = [], con: number[] = [];
const redis = await startBenchRedis();
const rounds = Number(process.argv[2] ?? 10), total = Number(process.argv[3] ?? 25000);
const modes = (process.env.MODES ?? "u,s").split(",");
const rows: Record<string, number[][]> = Object.fromEntries(modes.map((m) => [m, []]));
try {
  for (let r = -2; r < rounds; r++) {
    const order = r % 2 ? [...modes].reverse() : modes;
    for (const m of order) { const x = await once(redis.url, total, m); if (r >= 0) rows[m]!.push([x.cpu, x.redis, x.wall]); }
  }
} finally { await redis.stop(); }
const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]!; };
for (const k of modes) console.log(k, "cpu", med(rows[k]!.map((x) => x[0]!)).toFixed(1), "redis", med(rows[k]!.map((x) => x[1]!)).toFixed(1), "wall", med(rows[k]!.map((x) => x[2]!)).toFixed(1));
for (const k of modes.slice(1)) { const d = rows[k]!.map((x, i) => x[0]! - rows[modes[0]!]![i]![0]!); const w = rows[k]!.map((x, i) => (x[2]! / rows[modes[0]!]![i]![2]! - 1) * 100); console.log(k, "paired cpu µs median", med(d).toFixed(2), "wall % median", med(w).toFixed(1), "cpu diffs", d.map((x) => x.toFixed(1)).join(" ")); }
