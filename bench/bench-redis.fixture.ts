/**
 * A stand-in benchmark for bench/bench-redis.test.ts: starts the benchmarks' private redis-server
 * (bench/support.ts `startBenchRedis`), prints one JSON line with its URL, data dir and pid, then
 * waits to be signalled or killed, as a benchmark interrupted mid-run.
 */
import { Redis } from "ioredis";
import { startBenchRedis } from "./support.js";

const server = await startBenchRedis();
const admin = new Redis(server.url);
const [, dir] = (await admin.config("GET", "dir")) as [string, string];
const pid = Number(/process_id:(\d+)/.exec(await admin.info("server"))?.[1]);
admin.disconnect();
console.log(JSON.stringify({ url: server.url, dir, pid }));
setInterval(() => {}, 60_000);
