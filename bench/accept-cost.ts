/**
 * `npx tsx bench/accept-cost.ts [requests] [--paused] [--profile] [--rounds n]`: what one accepted
 * `POST /orders` costs, counted rather than timed. Every service runs as its own process over a
 * private Redis (compiled build); autocannon (100 connections, worker thread) sends a fixed number of
 * POSTs (default 20,000, after 3,000 of warm-up) and the CPU each process used (from /proc) and the
 * commands Redis ran (INFO commandstats) are divided by the accepted ones. A fixed amount of work is
 * steadier on a loaded machine than req/s. Run time: the start (tens of seconds, a minute or more on
 * a loaded machine) plus 23,000 POSTs per launch at 100-500/s, so about 1-4 minutes for one round
 * (4 min 14 s at load 20-33 on 2 cores, new-user finding F5); it prints each phase as it starts and
 * every 30 s within a round. Non-2xx answers are listed by status; their work is in the CPU and
 * command totals, which are divided by the accepted POSTs only.
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
import { non2xxByStatus } from "./load-accepted.js";
import { seedOrderBody } from "./load-completion.js";
import { profilerPreload, profilesIn, summarizeProfileFile } from "./load-profile.js";
import { snapshotTree, TICKS_PER_SECOND } from "./proc-cpu.js";
import { cpuByLabel, countsDelta, parseCommandstats, perOrderList, totalOf } from "./redis-calls.js";
import { startMultiProcess } from "./load-systems.js";
import { median, redisServerPid, startBenchRedis } from "./support.js";

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
const WARM_UP = 3_000;
const t0 = performance.now();
const seconds = () => Math.round((performance.now() - t0) / 1000);
/** Progress on stdout, each line with the seconds since start (the run takes minutes). */
const say = (line: string) => console.log(`[${String(seconds()).padStart(3)} s] ${line}`);

async function post(url: string, body: string, amount: number, phase: string) {
  const started = performance.now();
  const ticker = setInterval(
    () => say(`  ${phase}: ${Math.round((performance.now() - started) / 1000)} s in, still posting`),
    30_000,
  );
  // autocannon gives a thenable without finally(): stop the ticker here.
  let result: autocannon.Result;
  try {
    result = await autocannon({
      url: new URL("/orders", url).toString(),
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
      connections: 100,
      pipelining: 1,
      amount,
      workers: 1,
    });
  } finally {
    clearInterval(ticker);
  }
  return {
    accepted: result["2xx"],
    non2xx: result.non2xx,
    statuses: non2xxByStatus(result.statusCodeStats),
    errors: result.errors,
    seconds: result.duration,
  };
}

const posts = requests * rounds + WARM_UP;
say(
  `accept-cost: ${rounds} round(s) of ${requests} POST /orders after ${WARM_UP} of warm-up${paused ? ", downstream paused" : ""}; at 100-500 POSTs/s that is ${Math.round(posts / 500)}-${Math.round(posts / 100)} s after the start`,
);
const redis = await startBenchRedis();
const dir = profile ? mkdtempSync(join(tmpdir(), "ordersaga-accept-prof-")) : undefined;
const profiler = dir ? profilerPreload(dir) : undefined;
try {
  const probe = new Redis(redis.url, { maxRetriesPerRequest: null });
  const redisPid = await redisServerPid(probe);
  say("launching every service and the gateway over a private Redis (compiled build)…");
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
    say(`every service registered; warm-up: ${WARM_UP} POSTs…`);
    await post(target.gatewayUrl, body, WARM_UP, "warm-up");
    if (paused) for (const [, pid] of downstream) process.kill(pid, "SIGSTOP");
    profiler?.start();
    const perRound = new Map<string, number[]>();
    for (let round = 0; round < rounds; round++) {
      const stats0 = parseCommandstats(await probe.info("commandstats"));
      const before = snapshotTree(roots);
      say(`round ${round + 1} of ${rounds}: ${requests} POSTs…`);
      const run = await post(target.gatewayUrl, body, requests, `round ${round + 1}`);
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
        `round ${round + 1}: ${run.accepted} accepted (${run.non2xx} non-2xx: ${run.statuses}; ${run.errors} errors) in ${run.seconds} s = ${Math.round(run.accepted / run.seconds)}/s; ` +
          `CPU µs per accepted POST: total ${((total * 1e6) / n).toFixed(0)} = ${line}`,
      );
      console.log(
        `${run.non2xx + run.errors > 0 ? "  (the non-2xx and errored POSTs' work is in these totals, divided by the accepted ones only)\n" : ""}` +
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
