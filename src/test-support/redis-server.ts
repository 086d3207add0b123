/**
 * A private `redis-server` on a free port (so fault tests can kill and restart it), or the server
 * at REDIS_URL when set. Used by the tests (through `./redis.ts`) and the benchmarks.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { sleep } from "./wait.js";

const externalUrl = process.env.REDIS_URL;
const hasBinary = !externalUrl && spawnSync("redis-server", ["--version"]).status === 0;

export const redisAvailable = Boolean(externalUrl) || hasBinary;

/**
 * True when tests use an existing Redis (REDIS_URL): tests that kill or restart Redis cannot, and
 * are declared with `it.skipIf(externalRedis)` so they are reported skipped instead of failing.
 */
export const externalRedis = Boolean(externalUrl);

/**
 * A loopback port where nothing listens, for tests of an unreachable server (connection refused):
 * port 2, below the kernel's ephemeral range, so no listener bound to port 0 (Redis harnesses,
 * Fastify test servers) is ever handed it. A port picked by `freePort` is free only a moment:
 * another test file's listener may take it before the test connects (flake31 F3 b). Not port 1:
 * fetch refuses it before connecting ("bad port", the Fetch standard's list), so an HTTP client
 * would never see the ECONNREFUSED a test expects.
 */
export const UNREACHABLE_PORT = 2;

/**
 * A port free at the moment of the call (released before it returns). Only for a server that binds
 * it right away; never as "nothing listens there" (`UNREACHABLE_PORT`).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** True when this harness owns the process (restart and kill are possible). */
  readonly owned: boolean;
  /** A new client; closed by `stop()`. */
  client(): Redis;
  /** Kills the server (SIGKILL) without a chance to save. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory (AOF: acknowledged writes survive). */
  start(): Promise<void>;
  /** kill + start. */
  restart(): Promise<void>;
  /**
   * A clean stop: `SHUTDOWN` (Redis fsyncs the AOF and exits), sent as `options.auth`, resolved once
   * the process has exited. `start()` brings it back on the same port and data directory.
   */
  shutdown(): Promise<void>;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/** A login for the harness's own connections (probe, `client()`, `shutdown()`). */
export interface RedisAuth {
  username: string;
  password: string;
}

/**
 * A server other than the harness's own child answers on its port (flake31 F3 c): the port was
 * free when picked (`freePort`), then another listener on the machine (another test file's
 * redis-server, any server bound to port 0) took it before the child bound it, and the child
 * exited with EADDRINUSE. Without this check the harness pinged whatever listened there and two
 * test files shared one Redis, each one's flush wiping the other's data.
 */
export class ForeignRedisError extends Error {
  override readonly name = "ForeignRedisError";
}

/** `process_id` of an `INFO server` reply (undefined when absent). */
function processIdOf(info: string): number | undefined {
  const match = /^process_id:(\d+)/m.exec(info);
  return match ? Number(match[1]) : undefined;
}

/**
 * Waits until `child`, a redis-server just spawned for `url`, answers there (at most `timeoutMs`).
 * Throws as soon as the child has exited (it never will answer: e.g. EADDRINUSE), and
 * ForeignRedisError when the server answering is another process (`INFO server` `process_id`
 * differs from the child's pid; `setpriv` execs redis-server, so the pid is the same).
 */
async function waitForOwnServer(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
  auth?: RedisAuth,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  for (;;) {
    if (exited())
      throw new Error(
        `redis-server for ${url} exited (code ${child.exitCode}, signal ${child.signalCode}) before answering`,
      );
    const probe = new Redis(url, {
      ...auth,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    probe.on("error", () => {}); // refused while the server starts: expected, retried below
    let info: string;
    try {
      await probe.connect();
      info = await probe.info("server");
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(25);
      continue;
    } finally {
      probe.disconnect();
    }
    const answering = processIdOf(info);
    if (answering === child.pid) return;
    throw new ForeignRedisError(
      `another Redis (pid ${answering}) answers on ${url}, not this harness's redis-server (pid ${child.pid}): ` +
        "the port was taken between its pick and the server's bind",
    );
  }
}

export interface RedisServerOptions {
  /** AOF fsync policy: "always" (default, tests: nothing acknowledged is lost on kill) or "everysec". */
  appendfsync?: "always" | "everysec";
  /**
   * The server is SIGKILLed when this process dies, even by kill -9 (Linux `PR_SET_PDEATHSIG`
   * through util-linux `setpriv --pdeathsig`, which then execs redis-server). Where setpriv lacks
   * the option, the server starts without it. Its data directory stays behind after a kill -9.
   */
  dieWithParent?: boolean;
  /** More `redis-server` arguments, after the harness's own (e.g. `["--aclfile", file]`). */
  args?: readonly string[];
  /**
   * Who the readiness probe, `client()` and `shutdown()` log in as: needed when `args` load an ACL
   * file whose `default` user is off (an anonymous PING then gets NOAUTH).
   */
  auth?: RedisAuth;
}

/** Whether `setpriv --pdeathsig` is available (util-linux ≥ 2.33, Linux). */
const hasPdeathsig = () =>
  /--pdeathsig/.test(spawnSync("setpriv", ["--help"], { encoding: "utf8" }).stdout ?? "");

/** Pids whose parent is `pid` (Linux /proc; none elsewhere). */
function childrenOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      return ppid === pid ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

/** Running: in /proc and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * Redis's largest single bulk argument (default 512 MB) as the project runs it: 8 MB, room for a
 * 1 MiB envelope and a dead-letter record holding one, far below V8's ~512 MB string limit.
 */
export const PROTO_MAX_BULK_LEN = "8mb";

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const clients: Redis[] = [];
  const client = (url: string) => () => {
    const c = new Redis(url, { ...options.auth, maxRetriesPerRequest: null });
    c.on("error", () => {}); // fault tests kill the server on purpose; the client reconnects
    clients.push(c);
    return c;
  };
  if (externalUrl) {
    return {
      url: externalUrl,
      port: Number(new URL(externalUrl).port || 6379),
      owned: false,
      client: client(externalUrl),
      kill: async () => {
        throw new Error("cannot kill an external Redis (REDIS_URL is set)");
      },
      start: async () => {},
      restart: async () => {
        throw new Error("cannot restart an external Redis (REDIS_URL is set)");
      },
      shutdown: async () => {
        throw new Error("cannot shut down an external Redis (REDIS_URL is set)");
      },
      flush: async () => {
        const c = new Redis(externalUrl);
        await c.flushdb();
        c.disconnect();
      },
      stop: async () => {
        for (const c of clients) c.disconnect();
      },
    };
  }
  let port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "ordersaga-redis-"));
  let url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const viaSetpriv = options.dieWithParent === true && hasPdeathsig();
  /**
   * Spawns the server on `port` and waits for it to answer. Throws when it exits first or another
   * server answers there (its child is killed then): a restart must keep its port (clients hold
   * the URL), so it fails loudly rather than let this file use a foreign Redis.
   */
  const start = async () => {
    const spawned = spawn(
      viaSetpriv ? "setpriv" : "redis-server",
      [
        ...(viaSetpriv ? ["--pdeathsig", "KILL", "redis-server"] : []),
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir,
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        options.appendfsync ?? "always",
        // As shipped (docker-compose.yml): no single value over 8 MB, so no entry past the bus's
        // envelope bound by much (MAX_ENVELOPE_BYTES, 1 MiB) nor one Node cannot decode (break-sig F4).
        "--proto-max-bulk-len",
        PROTO_MAX_BULK_LEN,
        ...(options.args ?? []),
      ],
      { stdio: "ignore" },
    );
    child = spawned;
    try {
      await waitForOwnServer(url, spawned, 10_000, options.auth);
    } catch (error) {
      await kill();
      throw error;
    }
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    // A fork of the server (an AOF rewrite or a save in progress) outlives a SIGKILL of its parent
    // and keeps writing into the data dir: it is killed too, and waited for.
    const forks = proc.pid === undefined ? [] : childrenOf(proc.pid);
    await new Promise<void>((resolve) => {
      proc.once("exit", () => resolve());
      proc.kill("SIGKILL");
    });
    // Only the forks seen before the kill: after it they belong to init, and the pid may be reused.
    for (const pid of forks) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    const until = Date.now() + 5_000;
    while (forks.some(alive) && Date.now() < until) await sleep(10);
  };
  // The first start may move: a port taken meanwhile is dropped for a fresh one (a few tries).
  for (let attempt = 1; ; attempt++) {
    try {
      await start();
      break;
    } catch (error) {
      if (attempt >= 3 || !(error instanceof ForeignRedisError)) {
        rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
        throw error;
      }
      port = await freePort();
      url = `redis://127.0.0.1:${port}`;
    }
  }
  return {
    url,
    port,
    owned: true,
    client: client(url),
    kill,
    start,
    restart: async () => {
      await kill();
      await start();
    },
    shutdown: async () => {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
      const c = new Redis(url, { ...options.auth, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on("error", () => {}); // the server closes the connection as it exits
      // No reply on success: the connection just closes (ioredis rejects); an ACL refusal rejects too,
      // and then the process does not exit, so the wait below is bounded.
      const refusal = await c.shutdown().then(
        () => undefined,
        (error: Error) => (/NOPERM|NOAUTH|WRONGPASS|ERR/.test(error.message) ? error : undefined),
      );
      c.disconnect();
      if (refusal) {
        child = proc;
        throw refusal;
      }
      await exited;
    },
    flush: async () => {
      const c = new Redis(url);
      await c.flushall();
      c.disconnect();
    },
    stop: async () => {
      for (const c of clients) c.disconnect();
      await kill();
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}
