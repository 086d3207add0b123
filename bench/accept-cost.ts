/**
 * `npx tsx bench/accept-cost.ts [requests] [--paused] [--profile] [--rounds n]`: what one accepted
 * `POST /orders` costs, counted rather than timed. Every service runs as its own process over a
 * private Redis (compiled build); autocannon (100 connections, worker thread) sends a fixed number of
 * POSTs (default 20,000, after 3,000 of warm-up) and the CPU each process used (from /proc) and the
 * commands Redis ran (INFO commandstats) are divided by the accepted ones. A fixed amount of work is
 * steadier on a loaded machine than req/s.
 *
 * `--paused`: the downstream services (user, inventory, payment, shipping, notification) are
 * SIGSTOPped while measuring, so gateway, order and Redis do only the accept path. Without it they
 * consume the sagas meanwhile (as in `npm run bench -- --quick`), and their CPU is listed too.
 * `--profile`: gateway and order also write a V8 CPU profile of the measured window (top functions
 * printed). `--rounds n`: n measured rounds in one launch (medians printed).
 */
import autocannon from "autocannon";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { seedOrderBody } from "./load-completion.js";
import { profilerPreload, profilesIn, summarizeProfileFile } from "./load-profile.js";
import { snapshotTree, TICKS_PER_SECOND } from "./proc-cpu.js";
import { cpuByLabel, countsDelta, parseCommandstats, perOrderList, totalOf } from "./redis-calls.js";
import { startMultiProcess } from "./load-systems.js";
import { startBenchRedis } from "./support.js";

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const at = args.indexOf(name);
  return at === -1 ? undefined : args[at + 1];
};
const requests = Number(
  args.find((a) => /^\d+$/.test(a) && args[args.indexOf(a) - 1] !== "--rounds") ?? 20_000,
);
const rounds = Number(option("--rounds") ?? 1);
const paused = flag("--paused");
const profile = flag("--profile");
const DOWNSTREAM = ["user", "inventory", "payment", "shipping", "notification"];

async function post(url: string, body: string, amount: number) {
  const result = await autocannon({
    url: new URL("/orders", url).toString(),
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
    connections: 100,
    pipelining: 1,
    amount,
    workers: 1,
  });
  return { accepted: result["2xx"], non2xx: result.non2xx, errors: result.errors, seconds: result.duration };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

const redis = await startBenchRedis();
const dir = profile ? mkdtempSync(join(tmpdir(), "ordersaga-accept-prof-")) : undefined;
const profiler = dir ? profilerPreload(dir) : undefined;
try {
  const probe = new Redis(redis.url, { maxRetriesPerRequest: null });
  const redisPid = Number(/process_id:(\d+)/.exec(await probe.info("server"))?.[1]);
  const target = await startMultiProcess(redis.url, {
    GATEWAY_RATE_LIMIT_PER_MINUTE: "0",
    // BENCH_NODE_OPTIONS: node flags for every process (e.g. to try a GC setting); the profiler's after.
    ...(profiler || process.env.BENCH_NODE_OPTIONS
      ? { NODE_OPTIONS: [process.env.BENCH_NODE_OPTIONS, profiler?.nodeOptions].filter(Boolean).join(" ") }
      : {}),
  });
  const labels = new Map<number, string>([...target.pids].map(([label, pid]) => [pid, label] as const));
  labels.set(redisPid, "redis-server");
  labels.set(process.pid, "bench driver");
  const roots = [process.pid, redisPid];
  const downstream = [...target.pids].filter(([label]) => DOWNSTREAM.some((s) => label.startsWith(s)));
  try {
    const body = await seedOrderBody(target.gatewayUrl, `accept-${Date.now()}`);
    await post(target.gatewayUrl, body, 3_000);
    if (paused) for (const [, pid] of downstream) process.kill(pid, "SIGSTOP");
    profiler?.start();
    const perRound = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      const stats0 = parseCommandstats(await probe.info("commandstats"));
      const before = snapshotTree(roots);
      const run = await post(target.gatewayUrl, body, requests);
      const after = snapshotTree(roots);
      const commands = countsDelta(stats0, parseCommandstats(await probe.info("commandstats")));
      commands.delete("info");
      const cpu = cpuByLabel(before, after, TICKS_PER_SECOND, labels, "other");
      const n = Math.max(1, run.accepted);
      const line = [...cpu]
        .sort((a, b) => b[1] - a[1])
        .map(([label, s]) => `${label} ${((s * 1e6) / n).toFixed(0)}`)
        .join(", ");
      const total = [...cpu].reduce((sum, [, s]) => sum + s, 0);
      console.log(
        `round ${round + 1}: ${run.accepted} accepted (${run.non2xx} non-2xx, ${run.errors} errors) in ${run.seconds} s = ${Math.round(run.accepted / run.seconds)}/s; ` +
          `CPU µs per accepted POST: total ${((total * 1e6) / n).toFixed(0)} = ${line}`,
      );
      console.log(
        `  Redis commands per POST (scripts' included): ${(totalOf(commands) / n).toFixed(2)} = ${perOrderList(commands, n, 12, 2)}`,
      );
      for (const [label, s] of cpu) perRound.set(label, [...(perRound.get(label) ?? []), (s * 1e6) / n]);
      perRound.set("rate/s", [...(perRound.get("rate/s") ?? []), run.accepted / run.seconds]);
    }
    profiler?.stop();
    if (rounds > 1)
      console.log(
        `medians: ${[...perRound].map(([label, xs]) => `${label} ${median(xs).toFixed(0)}`).join(", ")}`,
      );
  } finally {
    // The profiles are written within 50 ms of stop(); the downstream's backlog comes after.
    if (profiler) await new Promise((resolve) => setTimeout(resolve, 500));
    if (paused) for (const [, pid] of downstream) process.kill(pid, "SIGCONT");
    probe.disconnect();
    await target.stop();
  }
  if (dir) {
    const byPid = new Map([...target.pids].map(([label, pid]) => [pid, label]));
    for (const file of profilesIn(dir)) {
      const label = byPid.get(Number(/(\d+)\.cpuprofile$/.exec(file)?.[1]));
      if (label !== "gateway" && !label?.startsWith("order")) continue;
      const summary = summarizeProfileFile(file, 25);
      console.log(`**${label}** (${summary.seconds} s sampled)`);
      console.log(`- by package: ${summary.packages.map((s) => `${s.percent}% ${s.name}`).join("; ")}`);
      console.log(`- top self time: ${summary.functions.map((s) => `${s.percent}% ${s.name}`).join("; ")}`);
    }
  }
} finally {
  // BENCH_KEEP_PROFILES=1 leaves the .cpuprofile files for a closer look (their dir is printed).
  if (dir && process.env.BENCH_KEEP_PROFILES === "1") console.log(`profiles kept in ${dir}`);
  else if (dir) rmSync(dir, { recursive: true, force: true });
  await redis.stop();
}
