/** Shared bench plumbing: a private redis-server, latency stats, machine description. */
import { cpus, totalmem } from "node:os";
import { startRedisServer } from "../src/test-support/redis-server.js";

export interface BenchRedis {
  url: string;
  stop(): Promise<void>;
}

/** A private redis-server (AOF everysec, as recommended for production), or REDIS_URL when set. */
export async function startBenchRedis(): Promise<BenchRedis> {
  const server = await startRedisServer({ appendfsync: "everysec" });
  return { url: server.url, stop: () => server.stop() };
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

export const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model ?? "cpu"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export { sleep } from "../src/test-support/wait.js";
