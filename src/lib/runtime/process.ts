/**
 * The process edge shared by every entry point (services and gateway): refusing a Redis that cannot
 * keep the delivery promises, and stopping gracefully on SIGTERM/SIGINT.
 */
import { Worker } from "node:worker_threads";
import type { Redis } from "ioredis";
import type { Logger } from "../observability/logger.js";
import { checkRedisDurability } from "./platform.js";

/** The parts of `process` these helpers use, so tests can pass a fake one. */
export interface ProcessLike {
  on(event: "SIGTERM" | "SIGINT" | "disconnect", listener: () => void): unknown;
  exit(code: number): void;
  /** While the IPC channel to its parent (the launcher, the demo) is open: true; false once it closed. */
  connected?: boolean;
  /** Defined (for good) when the process was started with an IPC channel, even after it closed. */
  send?: unknown;
  /** The parent's pid, read afresh each time (1 or a subreaper once the parent died). */
  readonly ppid?: number;
}

/** The parent that started this process over IPC, and whether it is gone (watchParent). */
export interface ParentWatch {
  /** Why the parent is gone, once it is; undefined while it lives (or without a parent channel). */
  readonly goneReason: string | undefined;
  /**
   * Runs `listener` once when the parent is gone, at once if it already is. A later call replaces
   * the listener (the start-up default, then the graceful shutdown) and cancels the start-up exit.
   */
  whenGone(listener: (reason: string) => void): void;
}

export interface WatchParentOptions {
  proc?: ProcessLike;
  /** How often the parent pid is compared (ms, default 1 000): a second way to see a SIGKILL. */
  pollMs?: number;
  /**
   * When the parent dies before anyone called `whenGone` (start-up still running), exit 1 after
   * this long (ms, default 15 000) unless a listener is set meanwhile: a stuck start-up (Redis
   * unreachable) must not outlive its launcher.
   */
  startupExitMs?: number;
  /**
   * The watchdog outside the event loop (a worker thread): once the parent is gone (its pid
   * changed, or the main thread saw the channel close), the process is killed with SIGKILL after
   * this long (ms, default `WATCHDOG_EXIT_MS`) unless it exited by then. `false`: none (default
   * when `proc` is not the real process).
   */
  watchdogMs?: number | false;
}

/**
 * How long after its parent is gone a process started over IPC may live at most (ms): past the
 * start-up exit (15 s) and the graceful shutdown's forced exit (10 s), with room for a loaded
 * machine. A main thread blocked for good (a synchronous write to a pipe nobody reads, break11 F2)
 * runs no timer: only the watchdog thread ends it.
 */
export const WATCHDOG_EXIT_MS = 20_000;

/**
 * The watchdog thread's code (CommonJS, run with `eval`): compares the parent pid every `pollMs`
 * itself, since the main thread may be the one that is stuck, and takes a message from the main
 * thread as the parent gone too. Then SIGKILL after `exitMs`; the process's own exit ends it first.
 */
const WATCHDOG_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const { ppid, pollMs, exitMs } = workerData;
let poll;
const arm = () => {
  if (poll === undefined) return;
  clearInterval(poll);
  poll = undefined;
  setTimeout(() => process.kill(process.pid, "SIGKILL"), exitMs);
};
poll = setInterval(() => { if (process.ppid !== ppid) arm(); }, pollMs);
parentPort.once("message", arm);
`;

/**
 * Starts the watchdog thread (WATCHDOG_SOURCE); returns what tells it the parent is gone. The
 * thread does not keep the process alive. A thread that cannot start (resource limits) leaves the
 * in-loop watch alone, with a warning on stderr.
 */
function startWatchdog(ppid: number, pollMs: number, exitMs: number): () => void {
  try {
    const worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { ppid, pollMs, exitMs } });
    worker.unref();
    worker.on("error", (error) => process.stderr.write(`parent watchdog stopped: ${String(error)}\n`));
    return () => worker.postMessage("gone");
  } catch (error) {
    process.stderr.write(`parent watchdog not started: ${String(error)}\n`);
    return () => {};
  }
}

/**
 * Watches the parent of a process started with an IPC channel (by the launcher or the demo): it is
 * gone when the channel closes (its death, even by SIGKILL, closes it), when the channel was closed
 * already before this call (a parent that died while the modules were loading), or when the parent
 * pid changes (re-parented to init or a subreaper). Call it first thing in an entry point. Without a
 * parent channel (started by hand, by Docker) nothing is watched and `goneReason` stays undefined.
 */
export function watchParent(options: WatchParentOptions = {}): ParentWatch {
  const { proc = process, pollMs = 1_000, startupExitMs = 15_000 } = options;
  const watchdogMs = options.watchdogMs ?? (proc === process ? WATCHDOG_EXIT_MS : false);
  let tellWatchdog = (): void => {};
  let goneReason: string | undefined;
  let listener: ((reason: string) => void) | undefined;
  let startupExit: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const gone = (reason: string): void => {
    if (goneReason !== undefined) return;
    goneReason = reason;
    tellWatchdog();
    if (poll) clearInterval(poll);
    if (listener) return listener(reason);
    startupExit = setTimeout(() => proc.exit(1), startupExitMs);
  };
  const watch: ParentWatch = {
    get goneReason() {
      return goneReason;
    },
    whenGone(next) {
      listener = next;
      if (startupExit) clearTimeout(startupExit);
      startupExit = undefined;
      if (goneReason !== undefined) next(goneReason);
    },
  };
  if (typeof proc.send !== "function") return watch;
  if (watchdogMs !== false) tellWatchdog = startWatchdog(proc.ppid ?? process.ppid, pollMs, watchdogMs);
  // Registered before anything else, and then checked: a 'disconnect' already emitted is not repeated.
  proc.on("disconnect", () => gone("parent disconnected"));
  if (proc.connected !== true) {
    gone("parent disconnected");
    return watch;
  }
  const ppid = proc.ppid;
  if (ppid !== undefined) {
    poll = setInterval(() => {
      if (proc.ppid !== ppid) gone(`parent ${ppid} gone (now ${proc.ppid})`);
    }, pollMs);
    poll.unref();
  }
  return watch;
}

/**
 * Logs every Redis setting that breaks the promises (or that the config could not be read); in
 * production such a Redis is refused: the process exits with 1 rather than lose messages later.
 * Without Redis (the memory platform) there is nothing to check.
 */
export async function guardRedisDurability(
  redis: Redis | undefined,
  logger: Logger,
  nodeEnv: string,
  proc: ProcessLike = process,
  /** How a refusal ends the process (e.g. `failStart`, which also tells the launcher); default exit 1. */
  refuse?: (reason: string) => Promise<unknown>,
): Promise<void> {
  const warnings = redis
    ? await checkRedisDurability(redis).catch((error: unknown) => [
        `cannot read Redis config: ${String(error)}`,
      ])
    : [];
  for (const warning of warnings) logger.warn(warning);
  if (nodeEnv === "production" && warnings.length > 0) {
    const reason = `refusing to start in production on a Redis that cannot keep the delivery promises: ${warnings.join("; ")}`;
    logger.fatal(reason);
    if (refuse) await refuse(reason);
    else proc.exit(1);
  }
}

export interface ShutdownOptions {
  logger: Logger;
  /** Stops what the process runs, in order (e.g. the service, then the platform). */
  stop: () => Promise<void>;
  /** A shutdown that hangs longer than this exits with 1 anyway. Default 10 s. */
  forceExitMs?: number;
  proc?: ProcessLike;
  /** The entry point's watchParent, set up first thing; default: one watched from this call on. */
  parent?: ParentWatch;
}

/**
 * On SIGTERM or SIGINT, runs `stop` once (a second signal while stopping is ignored) and exits 0.
 * A process started with an IPC channel (by the launcher or the demo) also stops when its parent is
 * gone (`parent`, watchParent), even if it died before this call: a parent killed by SIGKILL cannot
 * forward it, and a system nobody launched any more must not keep running, orphaned (break9 F7).
 * Returns the shutdown function, which a signal calls.
 */
export function shutdownOnSignals(options: ShutdownOptions): (signal: string) => Promise<void> {
  const { logger, stop, forceExitMs = 10_000, proc = process } = options;
  const parent = options.parent ?? watchParent({ proc });
  let exiting = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (exiting) return;
    exiting = true;
    logger.info({ signal }, "shutting down");
    const force = setTimeout(() => proc.exit(1), forceExitMs);
    force.unref();
    try {
      await stop();
    } finally {
      clearTimeout(force);
      proc.exit(0);
    }
  };
  proc.on("SIGTERM", () => void shutdown("SIGTERM"));
  proc.on("SIGINT", () => void shutdown("SIGINT"));
  parent.whenGone((reason) => void shutdown(reason));
  return shutdown;
}
