// Scratch: per-hop latency of the saga at a low rate, from the Redis stream entry ids (one clock).
import { Redis } from "ioredis";
import { driveOrders } from "../load-driver.js";
import { seedOrderBody } from "../load-completion.js";
import { startMultiProcess } from "../load-systems.js";
import { sleep, startBenchRedis } from "../support.js";

const rate = Number(process.argv[2] ?? 10), seconds = Number(process.argv[3] ?? 8);
const redis = await startBenchRedis();
const target = await startMultiProcess(redis.url);
try {
  const body = await seedOrderBody(target.gatewayUrl, "hops");
  await driveOrders({ gatewayUrl: target.gatewayUrl, body, ratePerSec: rate, durationSec: seconds });
  await sleep(3000);
  const r = new Redis(redis.url);
  const keys = (await r.keys("*:ev:*")).filter((k) => !k.includes("redeliver"));
  const byOrder = new Map<string, { id: string; ms: number; seq: number; event: string }[]>();
  for (const key of keys) {
    if ((await r.type(key)) !== "stream") continue;
    for (const [id, fields] of (await r.xrange(key, "-", "+")) as [string, string[]][]) {
      const b = fields[fields.indexOf("b") + 1] ?? fields[1]!;
      let env: { correlationId?: string; event?: string };
      try { env = JSON.parse(b); } catch { continue; }
      if (!env.correlationId || !env.event) continue;
      const [ms, seq] = id.split("-").map(Number);
      const list = byOrder.get(env.correlationId) ?? [];
      list.push({ id, ms: ms!, seq: seq!, event: env.event });
      byOrder.set(env.correlationId, list);
    }
  }
  const hops = new Map<string, number[]>();
  const totals: number[] = [];
  for (const list of byOrder.values()) {
    list.sort((a, b) => a.ms - b.ms || a.seq - b.seq);
    if (list.length < 10) continue;
    totals.push(list[list.length - 1]!.ms - list[0]!.ms);
    for (let i = 1; i < list.length; i++) {
      const k = `${list[i - 1]!.event} → ${list[i]!.event}`;
      const a = hops.get(k) ?? []; a.push(list[i]!.ms - list[i - 1]!.ms); hops.set(k, a);
    }
  }
  const q = (a: number[], p: number) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(p * s.length))]!; };
  console.log("orders", byOrder.size, "first→last entry ms p50", q(totals, 0.5), "p90", q(totals, 0.9), "p99", q(totals, 0.99));
  for (const [k, a] of [...hops].filter(([, a]) => a.length >= byOrder.size / 3).sort((x, y) => q(y[1], 0.5) - q(x[1], 0.5)))
    console.log(String(a.length).padStart(5), "p50", String(q(a, 0.5)).padStart(3), "p90", String(q(a, 0.9)).padStart(3), " ", k);
  r.disconnect();
} finally {
  await target.stop();
  await redis.stop();
}
