/** Shared bench plumbing: a private redis-server, latency stats, machine description. */
import { cpus, totalmem } from "node:os";
import type { Redis } from "ioredis";
import { startRedisServer } from "../src/test-support/redis-server.js";

export interface BenchRedis {
  url: string;
  stop(): Promise<void>;
}

/** The private servers not stopped yet, for the signal handlers below. */
const running = new Set<BenchRedis>();
let handling = false;
let stopping = false;

/**
 * Ctrl-C (SIGINT) or SIGTERM during a benchmark: stops every private redis-server and removes its
 * temp dir (`/tmp/ordersaga-redis-*`), says so on stderr, and exits 130 / 143 (new-user bench
 * finding 5; Node's default exit on a signal skipped every `finally`). Installed with the first
 * server. A kill -9 runs no handler: the server dies with this process (`dieWithParent`) but its
 * dir stays.
 */
function stopOnSignals(): void {
  if (handling) return;
  handling = true;
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    // `on`, not `once`: Ctrl-C reaches this process twice (from the terminal's process group and
    // relayed by the tsx launcher), and a second signal with no listener would kill it in the
    // middle of removing the dir. A signal while stopping is ignored.
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\nbench: ${signal}: stopping the private redis-server and removing its data\n`);
      // Bounded: a server that does not stop within 5 s must not keep the process alive.
      setTimeout(() => process.exit(code), 5_000);
      void Promise.allSettled([...running].map((server) => server.stop())).finally(() => process.exit(code));
    });
  }
}

/**
 * A private redis-server (AOF everysec, as recommended for production), or REDIS_URL when set.
 * Removed on SIGINT/SIGTERM; killed with this process on a kill -9 (see `stopOnSignals`).
 */
export async function startBenchRedis(): Promise<BenchRedis> {
  stopOnSignals();
  const server = await startRedisServer({ appendfsync: "everysec", dieWithParent: true });
  // One stop, however many ask: a signal arrives while the benchmark's own `finally` stops the
  // server too, and a second stop must not remove the dir before the server has exited.
  let stopped: Promise<void> | undefined;
  const bench: BenchRedis = {
    url: server.url,
    stop: () => {
      running.delete(bench);
      stopped ??= server.stop();
      return stopped;
    },
  };
  running.add(bench);
  return bench;
}

export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function latencyStats(samples: number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return {
    count: sorted.length,
    p50: round(at(0.5)),
    p99: round(at(0.99)),
    max: round(sorted[sorted.length - 1] ?? 0),
  };
}

/**
 * The redis-server's pid (`process_id` of `INFO server`), for its CPU in /proc. Throws when INFO
 * gives none (a proxy or a managed Redis in front of the server).
 */
export async function redisServerPid(redis: Redis): Promise<number> {
  const pid = Number(/process_id:(\d+)/.exec(await redis.info("server"))?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error("INFO server gave no process_id");
  return pid;
}

/** The upper median (the middle of an odd count, the higher middle of an even one); 0 when empty. */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export { sleep } from "../src/test-support/wait.js";
