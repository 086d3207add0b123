/**
 * The system under fault: every service as its own process (two order and two inventory instances)
 * over a private `redis-server` with AOF, on loopback, with the controls the faults use: `kill -9`
 * and restart of a process, SIGSTOP/SIGCONT (a lagging process), a Redis restart, a provider outage
 * window, and re-delivered stream entries.
 */
import type { ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import type { Redis } from "ioredis";
import { isLaunchSignal } from "../lib/runtime/launch-signal.js";
import { type LaunchedSystem, launch, type ProcessSpec, planProcesses } from "../system/launcher.js";
import { faultClockSkewEnv } from "../test-support/fault-clock-skew.js";
import { freePort, type RedisServer, startRedisServer } from "../test-support/redis-server.js";

export interface ChaosSystem {
  gatewayUrl: string;
  labels: string[];
  /** `kill -9` a process, then start it again (a crashed instance replaced by its supervisor). */
  killAndRestart(label: string): Promise<void>;
  /**
   * Stops a process (SIGTERM, waiting for it to exit) and starts it again, ready and registered
   * before this resolves. `clockOffsetMs` (not 0) starts it with its clock that far off, through the
   * fault-injection hook `test-support/fault-clock-skew` (0: a right clock again).
   */
  restart(label: string, options?: { clockOffsetMs?: number }): Promise<void>;
  /** Stops a process (SIGSTOP) for `ms`, then lets it go on: a lagging instance with a backlog. */
  pause(label: string, ms: number): Promise<void>;
  /** `kill -9` of Redis and a start on the same AOF (appendfsync always: acknowledged writes survive). */
  restartRedis(): Promise<void>;
  /**
   * Closes every service's Redis connections at once (CLIENT KILL): commands in flight lose their
   * replies, after Redis may have run them; the clients reconnect.
   */
  killRedisClients(): Promise<void>;
  /** The simulated provider is down (every call fails) for `ms` from now. */
  providerOutage(ms: number): Promise<void>;
  /** Appends `count` copies of recent entries of the saga's streams again: duplicated, reordered deliveries. */
  duplicate(count: number, random: () => number): Promise<number>;
  stop(): Promise<void>;
}

/** Environment of every process: fast takeover and heartbeats, a step deadline above takeover + 10 s. */
export const CHAOS_ENV: Record<string, string> = {
  CLAIM_IDLE_MS: "2000",
  HEARTBEAT_INTERVAL_MS: "1000",
  SAGA_STEP_TIMEOUT_MS: "15000",
  // Input 7 of issue 8 in every run: orders priced above $250.00 fail at once with the true reason.
  MAX_ORDER_TOTAL_CENTS: "25000",
  // I-terminal waits for `delivered`: 1 s, not the default 5 s, keeps each run's drain short.
  SHIPPING_DELIVERY_DELAY_MS: "1000",
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
  });

export interface ChaosStartOptions {
  /** How long every process has to come up and register with the gateway, ms (default 5 min). */
  startTimeoutMs?: number;
  /** Aborted (Ctrl-C, SIGTERM during start): stop what was started, reject with the reason. */
  signal?: AbortSignal;
}

/** 5 min: a shared, loaded machine starts nine processes compiling TypeScript at once slowly. */
export const DEFAULT_START_TIMEOUT_MS = 300_000;

/** Every process needed and its Redis started; on any failure to start, none of it is left running. */
export async function startChaosSystem(
  logFile: string,
  options: ChaosStartOptions = {},
): Promise<ChaosSystem> {
  const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const redis: RedisServer = await startRedisServer({ appendfsync: "always" });
  const launched: LaunchedSystem[] = [];
  // A start that fails (timeout, a process died, Ctrl-C) must not leave its Redis, temp dir or
  // processes behind (newuser F12): they are throwaway, so SIGKILL, then Redis and its dir.
  const abandon = async () => {
    await Promise.all(launched.map((l) => l.kill()));
    await redis.stop();
  };
  try {
    options.signal?.throwIfAborted();
    const port = await freePort();
    const gatewayUrl = `http://127.0.0.1:${port}`;
    const specs = planProcesses({
      redisUrl: redis.url,
      instances: { inventory: 2, order: 2 },
      gatewayPort: port,
      logLevel: "warn",
      anyPort: true,
      env: CHAOS_ENV,
    });
    const write = (line: string) => appendFileSync(logFile, `${line}\n`);
    launched.push(launch(specs, write));
    const up = new Set<string>();
    for (const [label, child] of launched[0]!.children)
      child.on("message", (m: unknown) => {
        if (isLaunchSignal(m) && m.type === "ordersaga:ready") up.add(label);
      });
    await waitForServices(gatewayUrl, {
      timeoutMs: startTimeoutMs,
      launched: launched[0]!,
      notUp: () => specs.map((s) => s.label).filter((l) => !up.has(l)),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return running(redis, launched, specs, gatewayUrl, write, startTimeoutMs);
  } catch (error) {
    await abandon();
    throw error;
  }
}

function running(
  redis: RedisServer,
  launched: LaunchedSystem[],
  specs: ProcessSpec[],
  gatewayUrl: string,
  write: (line: string) => void,
  startTimeoutMs: number,
): ChaosSystem {
  const children = new Map(launched[0]!.children);
  const specOf = new Map<string, ProcessSpec>(specs.map((s) => [s.label, s]));
  const client: Redis = redis.client();
  let stopped: Promise<void> | undefined;

  return {
    gatewayUrl,
    labels: specs.map((s) => s.label),
    killAndRestart: async (label) => {
      const child = children.get(label);
      const spec = specOf.get(label);
      if (!child || !spec) throw new Error(`no process ${label}`);
      child.kill("SIGKILL");
      await exited(child);
      const again = launch([spec], write);
      launched.push(again);
      children.set(label, again.children.get(label)!);
    },
    restart: async (label, options = {}) => {
      const child = children.get(label);
      const spec = specOf.get(label);
      if (!child || !spec) throw new Error(`no process ${label}`);
      child.kill("SIGTERM");
      await exited(child);
      const offset = options.clockOffsetMs ?? 0;
      const again = launch(
        [offset === 0 ? spec : { ...spec, env: { ...spec.env, ...faultClockSkewEnv(offset) } }],
        write,
      );
      launched.push(again);
      children.set(label, again.children.get(label)!);
      await again.ready;
      await waitForServices(gatewayUrl, { timeoutMs: startTimeoutMs, launched: again, notUp: () => [] });
    },
    pause: async (label, ms) => {
      const child = children.get(label);
      if (!child) throw new Error(`no process ${label}`);
      child.kill("SIGSTOP");
      try {
        await sleep(ms);
      } finally {
        child.kill("SIGCONT");
      }
    },
    restartRedis: () => redis.restart(),
    killRedisClients: async () => {
      await client.call("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
    },
    providerOutage: async (ms) => {
      // On Redis's clock, the one the payment instances' provider compares the window with.
      const [seconds, micros] = (await client.time()).map(Number);
      const nowMs = seconds! * 1000 + Math.floor(micros! / 1000);
      await client.set("{payment}:provider:down-until", String(nowMs + ms));
    },
    duplicate: async (count, random) => {
      const streams = (await eventStreams(client)).filter((k) => !k.includes("service."));
      let copied = 0;
      for (let i = 0; i < count && streams.length > 0; i++) {
        const stream = streams[Math.floor(random() * streams.length)]!;
        const recent = await client.xrevrange(stream, "+", "-", "COUNT", 20);
        const entry = recent[Math.floor(random() * recent.length)];
        if (!entry) continue;
        await client.xadd(stream, "*", ...entry[1]);
        copied++;
      }
      return copied;
    },
    // Once, however many exit paths ask (a signal during a run, then the run's own finally).
    stop: () =>
      (stopped ??= (async () => {
        for (const child of children.values()) child.kill("SIGCONT");
        await Promise.all(launched.map((l) => l.stop()));
        await redis.stop();
      })()),
  };
}

/** The start did not complete: names what was not up, and how to give it longer. */
/**
 * The event streams (`{owner}:ev:<event>`) of `client`'s database, metrics streams left out. The
 * pattern also matches the streams' bookkeeping keys (failure lists, solo-run counts, read-to
 * marks: strings, lists, hashes), so each key's type is checked: streams only.
 */
export async function eventStreams(client: Redis): Promise<string[]> {
  const streams: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await client.scan(cursor, "MATCH", "{*}:ev:*", "COUNT", 500, "TYPE", "stream");
    cursor = next;
    streams.push(...keys.filter((k) => !k.includes("metrics")));
  } while (cursor !== "0");
  return streams.sort();
}

export class ChaosStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChaosStartError";
  }
}

/**
 * Waits until every service has its instances registered with the gateway, within `timeoutMs`.
 * Throws `ChaosStartError` naming the processes not up at the deadline, or the process that exited
 * during start; rejects with the signal's reason when aborted.
 */
async function waitForServices(
  gatewayUrl: string,
  options: { timeoutMs: number; launched: LaunchedSystem; notUp: () => string[]; signal?: AbortSignal },
): Promise<void> {
  const needed: Record<string, number> = {
    user: 1,
    order: 2,
    inventory: 2,
    payment: 1,
    shipping: 1,
    notification: 1,
  };
  const deadline = Date.now() + options.timeoutMs;
  let died: Error | undefined;
  options.launched.ready.catch((error: Error) => (died = error));
  for (;;) {
    options.signal?.throwIfAborted();
    if (died) throw new ChaosStartError(`the system could not start: ${died.message}`);
    let missing: string[] = [];
    try {
      const res = await fetch(`${gatewayUrl}/services`);
      const body = (await res.json()) as { services: { name: string; instances: unknown[] }[] };
      missing = Object.entries(needed)
        .filter(([name, n]) => (body.services.find((s) => s.name === name)?.instances.length ?? 0) < n)
        .map(([name]) => name);
      if (missing.length === 0) return;
    } catch {
      missing = ["gateway"]; // still starting
    }
    if (Date.now() > deadline) {
      const notUp = options.notUp();
      throw new ChaosStartError(
        `the system did not start within ${options.timeoutMs} ms: ` +
          `${notUp.length > 0 ? `not up: ${notUp.join(", ")}` : `not registered with the gateway: ${missing.join(", ")}`}` +
          ` (a loaded machine needs longer: --start-timeout-ms; each process's log is in the --log file)`,
      );
    }
    await sleep(250);
  }
}
