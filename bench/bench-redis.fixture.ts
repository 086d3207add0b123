/**
 * A stand-in benchmark for bench/bench-redis.test.ts: starts the benchmarks' private redis-server
 * (bench/support.ts `startBenchRedis`), prints one JSON line with its URL, data dir and pid, then
 * waits to be signalled or killed, as a benchmark interrupted mid-run (or, with FIXTURE_STOP_TWICE=1,
 * stops it twice at once).
 */
import { Redis } from "ioredis";
import { redisServerPid, startBenchRedis } from "./support.js";

const server = await startBenchRedis();
const admin = new Redis(server.url);
const [, dir] = (await admin.config("GET", "dir")) as [string, string];
const pid = await redisServerPid(admin);
admin.disconnect();
console.log(JSON.stringify({ url: server.url, dir, pid }));
if (process.env.FIXTURE_STOP_TWICE === "1") {
  // As a signal's stop and the benchmark's own `finally` do: two stops at once. Prints which
  // resolved first: the second must not return before the server has exited.
  const order: string[] = [];
  const first = server.stop().then(() => order.push("first"));
  const second = server.stop().then(() => order.push("second"));
  await Promise.all([first, second]);
  console.log(JSON.stringify({ order }));
} else setInterval(() => {}, 60_000);
