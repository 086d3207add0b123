/**
 * The two systems the load benchmark drives: every service its own process over Redis, and the
 * embedded in-memory one. Both expose the gateway URL, the bus transport to watch outcomes on, and
 * the processes whose CPU share is worth reporting.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Transport } from "../src/lib/bus/transport.js";
import { RedisStreamsTransport } from "../src/lib/bus/transports/redis-streams.js";
import { MemoryDeadLetterStore } from "../src/lib/dlq/memory-dead-letter-store.js";
import { GATEWAY, SERVICES } from "../src/system/catalog.js";
import { startEmbeddedSystem } from "../src/system/embedded.js";
import {
  assertFreshBuild,
  CompiledBuildError,
  compiledMain,
  type LaunchedSystem,
  launch,
  planProcesses,
} from "../src/system/launcher.js";
import type { RedisCredentials } from "../src/system/redis-acl.js";
import { freePort } from "../src/test-support/redis-server.js";
import { sleep } from "./support.js";

export interface Target {
  gatewayUrl: string;
  transport: Transport;
  /** label → pid of the processes doing the work. */
  pids: Map<string, number>;
  /** CPU seconds Redis has used so far (undefined in memory). */
  redisCpu(): Promise<number | undefined>;
  stop(): Promise<void>;
}

const SERVICE_NAMES = ["user", "order", "inventory", "payment", "shipping", "notification"];

/** The services with no registered instance yet ("gateway" while the gateway does not answer). */
async function notRegistered(gatewayUrl: string): Promise<string[]> {
  try {
    const res = await fetch(`${gatewayUrl}/services`);
    if (!res.ok) return ["gateway"];
    const body = (await res.json()) as { services?: { name: string; instances: unknown[] }[] };
    const up = new Set((body.services ?? []).filter((s) => s.instances.length > 0).map((s) => s.name));
    return SERVICE_NAMES.filter((name) => !up.has(name));
  } catch {
    return ["gateway"];
  }
}

/**
 * Resolves once every service is registered behind `gatewayUrl`. Past BENCH_START_TIMEOUT_MS, or
 * once `exited()` says the system's process is gone, runs `giveUp` (stop what was started) and
 * throws, naming the processes not up and the last log lines.
 */
async function untilRegistered(
  gatewayUrl: string,
  what: string,
  logs: readonly string[],
  giveUp: () => Promise<void>,
  exited: () => boolean = () => false,
): Promise<void> {
  const timeoutMs = startTimeoutMs();
  const deadline = performance.now() + timeoutMs;
  for (
    let missing = await notRegistered(gatewayUrl);
    missing.length > 0;
    missing = await notRegistered(gatewayUrl)
  ) {
    if (performance.now() > deadline || exited()) {
      await giveUp();
      const why = exited() ? "exited" : `not up within ${timeoutMs} ms (BENCH_START_TIMEOUT_MS)`;
      throw new Error(`${what}${why}: ${missing.join(", ")}\n${logs.slice(-20).join("\n")}`);
    }
    await sleep(100);
  }
}

/** How long the benchmarks and the soak wait for every process to register (BENCH_START_TIMEOUT_MS). */
export function startTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BENCH_START_TIMEOUT_MS;
  const ms = raw === undefined || raw === "" ? 180_000 : Number(raw);
  if (!Number.isInteger(ms) || ms <= 0)
    throw new Error(`BENCH_START_TIMEOUT_MS must be a positive integer, got "${raw}"`);
  return ms;
}

async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return field("used_cpu_user") + field("used_cpu_sys");
}

/**
 * Whether the benchmarks run the compiled build (default) or the sources through tsx
 * (`BENCH_FROM_SOURCE=1`, as every benchmark did before issue 14).
 */
export function benchCompiled(env: NodeJS.ProcessEnv = process.env): boolean {
  const raw = env.BENCH_FROM_SOURCE;
  if (raw === undefined || raw === "" || raw === "0") return true;
  if (raw === "1") return false;
  throw new Error(`BENCH_FROM_SOURCE must be 0 or 1, got "${raw}"`);
}

/** The compiled build the benchmarks need could not be made: the compiler's errors are printed above. */
export class BenchBuildError extends Error {
  constructor(status: number | null) {
    super(
      `npm run build failed (exit ${status ?? "signal"}); its errors are above. Fix them, or run ` +
        "the benchmark from the sources with BENCH_FROM_SOURCE=1",
    );
    this.name = "BenchBuildError";
  }
}

/** Every process the multi-process benchmarks start (the compiled build must hold them). */
export const BENCH_MAINS: readonly string[] = [...SERVICES.map((s) => s.main), GATEWAY.main];

/**
 * `npm run build` unless the compiled build is fresh (a no-op then); throws a BenchBuildError if
 * the build fails. `build` runs it (tests pass a stand-in).
 */
export function ensureBuild(
  mains: readonly string[] = BENCH_MAINS,
  build: () => { status: number | null } = () => spawnSync("npm", ["run", "build"], { stdio: "inherit" }),
): void {
  try {
    assertFreshBuild(mains);
    return;
  } catch (error) {
    if (!(error instanceof CompiledBuildError)) throw error;
  }
  const built = build();
  if (built.status !== 0) throw new BenchBuildError(built.status);
  assertFreshBuild(mains);
}

/**
 * FLUSHALL, then every service and the gateway as their own processes (compiled unless
 * BENCH_FROM_SOURCE=1, building first when the build is stale); resolves once all registered.
 */
export async function startMultiProcess(
  redisUrl: string,
  env: Record<string, string> = {},
  compiled = benchCompiled(),
  /** Each process as its own Redis ACL user (`provisionAclUsers`), e.g. to tell whose commands are whose. */
  redisUsers?: ReadonlyMap<string, RedisCredentials>,
): Promise<Target> {
  const port = await freePort();
  const specs = planProcesses({
    redisUrl,
    anyPort: true,
    gatewayPort: port,
    logLevel: "warn",
    env,
    ...(redisUsers ? { redisUsers } : {}),
  });
  // Before any Redis client: a failed build leaves no connection behind to complain later.
  if (compiled) ensureBuild(specs.map((s) => s.main));
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  await redis.flushall();
  const gatewayUrl = `http://127.0.0.1:${port}`;
  const logs: string[] = [];
  const system: LaunchedSystem = launch(specs, (line) => logs.push(line), { compiled });
  await untilRegistered(gatewayUrl, "", logs, async () => {
    await system.stop();
    redis.disconnect();
  });
  const transport = new RedisStreamsTransport({ redis, deadLetters: new MemoryDeadLetterStore() });
  const pids = new Map<string, number>();
  for (const [label, child] of system.children) if (child.pid) pids.set(label, child.pid);
  return {
    gatewayUrl,
    transport,
    pids,
    redisCpu: () => redisCpuSeconds(redis),
    stop: async () => {
      await transport.close();
      await system.stop();
      await redis.flushall();
      redis.disconnect();
    },
  };
}

/**
 * FLUSHALL, then the whole system in one process over Redis (`npm start` with REDIS_URL:
 * src/system/start-embedded.ts, compiled unless BENCH_FROM_SOURCE=1), its development secrets in a
 * temporary directory (DEV_SECRETS_DIR) removed at stop; resolves once every service registered.
 * The measure's "grouped" counterpart to startMultiProcess (issue 14: right-sized processes).
 */
export async function startOneProcess(
  redisUrl: string,
  env: Record<string, string> = {},
  compiled = benchCompiled(),
): Promise<Target> {
  const port = await freePort();
  const main = "src/system/start-embedded.ts";
  if (compiled) ensureBuild([main]);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null, enableAutoPipelining: true });
  await redis.flushall();
  const secrets = mkdtempSync(join(tmpdir(), "bench-one-process-"));
  const root = fileURLToPath(new URL("../", import.meta.url));
  const [command, args] = compiled
    ? [process.execPath, [join(root, compiledMain(main))]]
    : [process.execPath, ["--import", "tsx", join(root, main)]];
  const logs: string[] = [];
  const child = spawn(command, args, {
    cwd: root,
    env: {
      ...process.env,
      ...env,
      REDIS_URL: redisUrl,
      GATEWAY_PORT: String(port),
      LOG_LEVEL: "warn",
      DEV_SECRETS_DIR: secrets,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [child.stdout, child.stderr])
    stream.on("data", (chunk: Buffer) => logs.push(...chunk.toString().split("\n").filter(Boolean)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stopChild = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(secrets, { recursive: true, force: true });
  };
  const gatewayUrl = `http://127.0.0.1:${port}`;
  await untilRegistered(
    gatewayUrl,
    "the one-process system ",
    logs,
    async () => {
      await stopChild();
      redis.disconnect();
    },
    () => child.exitCode !== null || child.signalCode !== null,
  );
  const transport = new RedisStreamsTransport({ redis, deadLetters: new MemoryDeadLetterStore() });
  return {
    gatewayUrl,
    transport,
    pids: new Map(child.pid ? [["one process (services + gateway)", child.pid]] : []),
    redisCpu: () => redisCpuSeconds(redis),
    stop: async () => {
      await transport.close();
      await stopChild();
      await redis.flushall();
      redis.disconnect();
    },
  };
}

/** The embedded in-memory system, in this process (so the bench's own work shares its core). */
export async function startEmbedded(): Promise<Target> {
  const system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: "silent", pretty: false });
  return {
    gatewayUrl: system.gatewayUrl,
    transport: system.platform.transport,
    pids: new Map([["embedded system + bench", process.pid]]),
    redisCpu: async () => undefined,
    stop: () => system.stop(),
  };
}
