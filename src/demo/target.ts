/**
 * Where the demo runs: a gateway given on the command line; with REDIS_URL, the system already
 * running over that Redis (found through its registry) or else a system of its own in the URL's
 * database when it is empty, else another empty database of that Redis (so its processes never join
 * another system's consumer groups); without either, the embedded in-memory system.
 */
import { z } from "zod";
import { ResendGuardRedis } from "../lib/redis/resend-guard.js";
import { parseEnv, timerMs } from "../lib/runtime/config.js";
import { RedisServiceRegistry } from "../lib/discovery/redis-registry.js";
import { startFailureReason } from "../lib/runtime/launch-signal.js";
import { DEFAULT_REDIS_CONNECT_TIMEOUT_MS, waitForRedis } from "../lib/runtime/redis-ready.js";
import { redactRedisUrl } from "../lib/runtime/redis-url.js";
import { startEmbeddedSystem } from "../system/embedded.js";
import { launch, planProcesses } from "../system/launcher.js";

export interface DemoTarget {
  url: string;
  /** Said to the user before the scenarios run. */
  mode: string;
  /** Ends what the demo started (quickly: nothing of a demo's own system is worth waiting for). */
  end(): Promise<void>;
}

/** How long (ms) a registered gateway's /health may take before it is said not to answer. */
export const GATEWAY_PROBE_TIMEOUT_MS = 10_000;

/**
 * Gateways are registered in this Redis, but none answered its /health in time and at least one
 * kept the connection open (a loaded host, a frozen process): not "no system" (newuser14 F3: on a
 * loaded host a 2 s probe said "start the system", and the demo started a second one beside it).
 */
export class GatewayNotAnsweringError extends Error {
  constructor(
    readonly urls: readonly string[],
    timeoutMs: number,
  ) {
    super(
      `a gateway is registered (${urls.join(", ")}) but did not answer /health within ${timeoutMs / 1000} s ` +
        "(an overloaded host, or a frozen process): retry, or set GATEWAY_URL to the gateway's URL",
    );
    this.name = "GatewayNotAnsweringError";
  }
}

/**
 * A gateway registered in this Redis that answers its /health (200, or 503: up but degraded), if
 * any (every registered one probed at once, each for up to `probeTimeoutMs`, the first up taken); undefined when none is registered or each refused (a system
 * that died: its entries not expired yet). A Redis that does not answer within `connectTimeoutMs` is
 * an error naming why (e.g. "Redis is unreachable (connect ECONNREFUSED ...)").
 * @throws GatewayNotAnsweringError when none answered and one at least did not answer in time.
 */
export async function findRunningGateway(
  redisUrl: string,
  connectTimeoutMs: number = DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
  probeTimeoutMs: number = GATEWAY_PROBE_TIMEOUT_MS,
): Promise<string | undefined> {
  const redis = new ResendGuardRedis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    await waitForRedis(redis, connectTimeoutMs).catch((error: unknown) => {
      throw new Error(startFailureReason(error));
    });
    const gateways = await new RedisServiceRegistry({ redis }).list("gateway");
    const urls = gateways
      .filter((g) => g.status !== "unhealthy")
      .map((g) => `http://${g.address.includes(":") ? `[${g.address}]` : g.address}:${g.port}`);
    // Up: 200, or 503 (it answers, degraded: e.g. its Redis slow; break30 F5), as the launcher's
    // running-system check counts a gateway. The first up one is taken at once (break30 F2: a
    // frozen second gateway held the answer for the whole probe time).
    const answers: ("up" | "down" | "silent" | undefined)[] = urls.map(() => undefined);
    const probes = urls.map(async (url, i) => {
      try {
        const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(probeTimeoutMs) });
        await res.body?.cancel();
        answers[i] = res.ok || res.status === 503 ? "up" : "down";
      } catch (error) {
        answers[i] = (error as Error).name === "TimeoutError" ? "silent" : "down";
      }
      if (answers[i] === "up") return url;
      throw new Error("not up");
    });
    const up = await Promise.any(probes).catch(() => undefined);
    if (up) return up;
    const silent = urls.filter((_, i) => answers[i] === "silent");
    if (silent.length > 0) throw new GatewayNotAnsweringError(silent, probeTimeoutMs);
    return undefined;
  } finally {
    redis.disconnect();
  }
}

/**
 * Claims an empty database of this Redis: the one the URL names (db 0 when it names none) when it is
 * empty, else the first other empty one, with a `note` saying why the URL's own was not used. A
 * database is claimed by setting a claim key while it holds nothing else.
 */
export async function claimEmptyDatabase(
  redisUrl: string,
): Promise<{ url: string; db: number; note?: string }> {
  const own = Number(new URL(redisUrl).pathname.slice(1) || "0");
  const redis = new ResendGuardRedis(redisUrl, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  const claim = async (db: number): Promise<number | "claimed"> => {
    await redis.select(db);
    const keys = await redis.dbsize();
    if (keys > 0) return keys;
    return (await redis.set("ordersaga:demo:claimed", String(process.pid), "NX")) === "OK" ? "claimed" : 1;
  };
  const urlOf = (db: number) => {
    const url = new URL(redisUrl);
    url.pathname = `/${db}`;
    return url.toString();
  };
  try {
    const ownResult = await claim(own);
    if (ownResult === "claimed") return { url: urlOf(own), db: own };
    const note =
      `database ${own} of REDIS_URL holds ${ownResult} key${ownResult === 1 ? "" : "s"} but no running ` +
      "gateway, so the demo does not mix its data with them";
    const configured = await redis.config("GET", "databases").catch(() => ["databases", "16"]);
    const count = Number((configured as string[])[1] ?? 16);
    for (let db = 0; db < count; db++) {
      if (db === own) continue;
      if ((await claim(db)) === "claimed") return { url: urlOf(db), db, note };
    }
    throw new Error(
      `${note}, and no other database of ${redactRedisUrl(redisUrl)} is empty: run the demo against a running ` +
        "system (start one with npm run start:services, or pass --gateway URL), or empty a database",
    );
  } finally {
    redis.disconnect();
  }
}

async function flushDatabase(url: string): Promise<void> {
  const redis = new ResendGuardRedis(url, { maxRetriesPerRequest: 1 });
  redis.on("error", () => {});
  try {
    await redis.flushdb();
  } finally {
    redis.disconnect();
  }
}

/**
 * How long (ms) the demo waits for its own multi-process system to come up: DEMO_START_TIMEOUT_MS,
 * default 180 s (newuser11 F5: a fixed 60 s, while start:services took 88 s on a loaded 2-core
 * machine; bench and soak wait 180 s too). A bad value is the ConfigError of every process.
 */
export const DEFAULT_DEMO_START_TIMEOUT_MS = 180_000;
export function demoStartTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const schema = z.object({ DEMO_START_TIMEOUT_MS: timerMs.default(DEFAULT_DEMO_START_TIMEOUT_MS) });
  return parseEnv(schema, env).DEMO_START_TIMEOUT_MS;
}

/**
 * What the demo says of its own system: the database it runs in and that database's own URL
 * (newuser11 F7: "database 2 of redis://host:6411/6" read as a contradiction). No password shown.
 */
export function ownSystemMode(claimedUrl: string, db: number, note?: string): string {
  return (
    `its own system (every service a process) in Redis database ${db} (${redactRedisUrl(claimedUrl)})` +
    `${note ? ` (${note})` : ""}, isolated from any other system there; removed after the run`
  );
}

/** The demo's own multi-process system in a claimed database; fails loudly if a process dies. */
async function ownSystem(
  redisUrl: string,
  onDeath: DeathListener,
  startTimeoutMs: number,
): Promise<DemoTarget> {
  const { url, db, note } = await claimEmptyDatabase(redisUrl);
  const logs: string[] = [];
  const system = launch(
    planProcesses({ redisUrl: url, anyPort: true, gatewayPort: 0, logLevel: "warn" }),
    (line) => {
      logs.push(line);
      if (logs.length > 50) logs.shift();
    },
  );
  let ended = false;
  let started = false;
  // Ctrl-C or SIGTERM, even while the system starts: stop its processes and free the database.
  const onSignal = (signal: NodeJS.Signals) => {
    void end().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  const end = async () => {
    ended = true;
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
    await system.kill();
    await flushDatabase(url);
  };
  process.once("SIGINT", onSignal).once("SIGTERM", onSignal);
  let diedBeforeStarted: string | undefined;
  // Heard at once (the scenarios' results would mean nothing); the rest of the system goes too.
  const died = (message: string) => onDeath(message, end());
  system.onUnexpectedExit((exit) => {
    if (ended) return;
    // The rest of the system goes too (and its database), then the caller hears of it.
    const message = `${exit.label} died (${exit.signal ?? exit.code}): ${exit.reason}`;
    if (started) died(message);
    // A death at start rejects `ready`; one after `ready` resolved but before its await resumed
    // must not be lost: the demo would run against a dead process ("fetch failed").
    else if (!exit.atStart) diedBeforeStarted ??= message;
  });
  try {
    const urls = await Promise.race([
      system.ready,
      new Promise<never>((_, reject) =>
        setTimeout(
          () =>
            reject(
              new Error(
                `the system did not start within ${startTimeoutMs / 1000} s: on a loaded machine, ` +
                  "raise DEMO_START_TIMEOUT_MS (ms)",
              ),
            ),
          startTimeoutMs,
        ).unref(),
      ),
    ]);
    started = true;
    if (diedBeforeStarted !== undefined) died(diedBeforeStarted);
    return {
      url: urls.get("gateway") ?? "",
      mode: ownSystemMode(url, db, note),
      end,
    };
  } catch (error) {
    await end();
    const detail = error instanceof Error ? error.message : String(error);
    throw new Error(`${detail}\n${logs.slice(-15).join("\n")}`);
  }
}

/**
 * Told as soon as a process of the demo's own system died after it was up, with `stopped`: resolves
 * once the rest of the system is stopped and its database freed (break-svc7 F3: told only after
 * that, ~2 s later, the demo had meanwhile reported scenarios failing against the dying system).
 */
export type DeathListener = (message: string, stopped: Promise<void>) => void;

export async function demoTarget(options: {
  gateway?: string | undefined;
  redisUrl?: string | undefined;
  /** How long (ms) to wait for that Redis before giving up with the reason (default 10 s). */
  redisConnectTimeoutMs?: number | undefined;
  /** A process of the demo's own system died after it was up (see DeathListener). */
  onDeath: DeathListener;
  /** How long (ms) its own system may take to start (default DEFAULT_DEMO_START_TIMEOUT_MS). */
  startTimeoutMs?: number | undefined;
  /**
   * Told once, before its own system starts over Redis (seconds of silence otherwise: newuser16 F4),
   * with a line saying so, where and how long it may take.
   */
  onStarting?: (line: string) => void;
}): Promise<DemoTarget> {
  if (options.gateway) {
    const url = options.gateway.replace(/\/$/, "");
    return { url, mode: `the system behind ${url}`, end: async () => {} };
  }
  if (options.redisUrl) {
    const running = await findRunningGateway(options.redisUrl, options.redisConnectTimeoutMs);
    if (running) {
      return {
        url: running,
        mode: `the system already running over ${redactRedisUrl(options.redisUrl)} (its gateway found in the registry)`,
        end: async () => {},
      };
    }
    const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_DEMO_START_TIMEOUT_MS;
    options.onStarting?.(
      `No system runs over ${redactRedisUrl(options.redisUrl)}: starting the demo's own (every service a ` +
        `process; up to ${startTimeoutMs / 1000} s, DEMO_START_TIMEOUT_MS) ...`,
    );
    return ownSystem(options.redisUrl, options.onDeath, startTimeoutMs);
  }
  // Errors only by default: the demo's output is its scenarios. At "warn", scenario 4 shows an
  // expected retry (its cancel meets the carrier's booking still in progress: CARRIER_UNAVAILABLE,
  // retried until the booking is known, then cancelled); LOG_LEVEL=warn npm run demo shows it.
  const system = await startEmbeddedSystem({ gatewayPort: 0, logLevel: process.env.LOG_LEVEL || "error" });
  return {
    url: system.gatewayUrl,
    mode: "embedded (one process, in-memory bus and stores)",
    // In memory, nothing outlives the process: no graceful stop (it would wait for the slow
    // scenario's carrier call still in flight).
    end: async () => {},
  };
}
