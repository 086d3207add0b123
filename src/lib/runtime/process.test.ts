import { spawn } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { waitFor } from "../../test-support/wait.js";
import { guardRedisDurability, type ProcessLike, shutdownOnSignals, watchParent } from "./process.js";

const logger = pino({ level: "silent" });

/** `ipc`: started with an IPC channel, open (`connected: true`) or already closed. */
function fakeProcess(ipc?: { connected: boolean; ppid?: number }) {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  const proc: ProcessLike & { ppid?: number } = {
    on: (signal, listener) => listeners.set(signal, listener),
    exit: (code) => void exits.push(code),
    ...(ipc ? { send: () => true, connected: ipc.connected, ppid: ipc.ppid } : {}),
  };
  return { proc, exits, signal: (name: string) => listeners.get(name)?.() };
}

/** A Redis that answers CONFIG GET with the given settings. */
/** A Redis whose INFO reports these CONFIG values (the check reads INFO: ACL users have no CONFIG). */
const redisWith = (config: Record<string, string>): Redis =>
  ({
    info: async () =>
      `# Memory\r\nmaxmemory_policy:${config["maxmemory-policy"] ?? ""}\r\n# Persistence\r\naof_enabled:${config.appendonly === "yes" ? 1 : 0}\r\n`,
  }) as unknown as Redis;

describe("shutdownOnSignals", () => {
  it("stops once on SIGTERM, even when the signal comes again, and exits 0", async () => {
    const { proc, exits } = fakeProcess();
    let stops = 0;
    const shutdown = shutdownOnSignals({ logger, proc, stop: async () => void stops++ });
    await Promise.all([shutdown("SIGTERM"), shutdown("SIGTERM")]);
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  it("listens to SIGINT and SIGTERM", async () => {
    const { proc, exits, signal } = fakeProcess();
    let stopped = false;
    shutdownOnSignals({ logger, proc, stop: async () => void (stopped = true) });
    signal("SIGINT");
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(true);
    expect(exits).toEqual([0]);
  });

  it("exits 1 when stopping hangs past the deadline", async () => {
    const { proc, exits } = fakeProcess();
    void shutdownOnSignals({ logger, proc, forceExitMs: 1, stop: () => new Promise<void>(() => {}) })(
      "SIGTERM",
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(exits).toEqual([1]);
  });
});

describe("a parent gone before or during start-up (break9 F7)", () => {
  it("stops and exits 0 when the parent channel closed before shutdownOnSignals was called", async () => {
    const { proc, exits } = fakeProcess({ connected: false });
    let stops = 0;
    shutdownOnSignals({ logger, proc, stop: async () => void stops++ });
    await waitFor(() => exits.length > 0, 5_000, "exit");
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  it("stops gracefully once start-up ends when the parent disconnected during start-up", async () => {
    const { proc, exits, signal } = fakeProcess({ connected: true });
    const parent = watchParent({ proc, startupExitMs: 60_000 });
    signal("disconnect"); // while the service is still starting: nothing to stop yet
    expect(parent.goneReason).toBe("parent disconnected");
    let stops = 0;
    shutdownOnSignals({ logger, proc, parent, stop: async () => void stops++ });
    await waitFor(() => exits.length > 0, 5_000, "exit");
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  it("exits 1 when the parent is gone and start-up never reaches its shutdown handler", async () => {
    const { proc, exits, signal } = fakeProcess({ connected: true });
    watchParent({ proc, startupExitMs: 10 });
    signal("disconnect");
    await waitFor(() => exits.length > 0, 5_000, "exit");
    expect(exits).toEqual([1]);
  });

  it("notices a parent pid change (re-parented) even without a disconnect", async () => {
    const { proc, exits } = fakeProcess({ connected: true, ppid: 4242 });
    let stops = 0;
    shutdownOnSignals({
      logger,
      proc,
      parent: watchParent({ proc, pollMs: 5 }),
      stop: async () => void stops++,
    });
    proc.ppid = 1;
    await waitFor(() => exits.length > 0, 5_000, "exit");
    expect(stops).toBe(1);
    expect(exits).toEqual([0]);
  });

  it("watches nothing in a process started without an IPC channel", async () => {
    const { proc, exits } = fakeProcess();
    const parent = watchParent({ proc, pollMs: 1, startupExitMs: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(parent.goneReason).toBeUndefined();
    expect(exits).toEqual([]);
  });
});

describe("guardRedisDurability", () => {
  const unsafe = { "maxmemory-policy": "allkeys-lru", appendonly: "no" };
  const safe = { "maxmemory-policy": "noeviction", appendonly: "yes" };

  it("refuses an unsafe Redis in production", async () => {
    const { proc, exits } = fakeProcess();
    await guardRedisDurability(redisWith(unsafe), logger, "production", proc);
    expect(exits).toEqual([1]);
  });

  it("only warns about an unsafe Redis outside production", async () => {
    const { proc, exits } = fakeProcess();
    const warnings: string[] = [];
    const recording = pino({ level: "warn" }, { write: (line: string) => void warnings.push(line) });
    await guardRedisDurability(redisWith(unsafe), recording, "development", proc);
    expect(exits).toEqual([]);
    expect(warnings.join("")).toMatch(/noeviction|appendonly/);
  });

  it("accepts a safe Redis and no Redis (memory platform) in production", async () => {
    const { proc, exits } = fakeProcess();
    await guardRedisDurability(redisWith(safe), logger, "production", proc);
    await guardRedisDurability(undefined, logger, "production", proc);
    expect(exits).toEqual([]);
  });
});

describe("a child process whose parent dies", () => {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  /**
   * Spawns a parent that spawns ipc-child.ts as the launcher does (IPC channel), kills the parent
   * with SIGKILL once the child printed `killOn`, and waits for the child to end.
   */
  async function killParentWhenChildSays(killOn: "starting" | "ready", env: Record<string, string>) {
    const child = fileURLToPath(new URL("../../test-support/ipc-child.ts", import.meta.url));
    const script = `
      const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["--import", "tsx", ${JSON.stringify(child)}], {
        stdio: ["ignore", "pipe", "inherit", "ipc"],
      });
      c.stdout.on("data", (d) => { if (String(d).includes(${JSON.stringify(killOn)})) console.log("child " + c.pid); });
    `;
    const parent = spawn(process.execPath, ["-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
      env: { ...process.env, ...env },
    });
    let childPid = 0;
    try {
      childPid = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child not ${killOn} in 30 s`)), 30_000);
        parent.stdout.on("data", (data: Buffer) => {
          const match = /child (\d+)/.exec(String(data));
          if (match) {
            clearTimeout(timer);
            resolve(Number(match[1]));
          }
        });
      });
      expect(alive(childPid)).toBe(true);
      parent.kill("SIGKILL");
      await waitFor(() => !alive(childPid), 10_000, "child exited after its parent died");
    } finally {
      parent.kill("SIGKILL");
      if (childPid > 0 && alive(childPid)) process.kill(childPid, "SIGKILL");
    }
  }

  it("stops when its parent is killed with SIGKILL (the IPC channel closes)", async () => {
    await killParentWhenChildSays("ready", {});
  }, 45_000);

  it("stops gracefully when its parent is killed during its start-up, before it watched for it", async () => {
    const stoppedFile = join(mkdtempSync(join(tmpdir(), "ipc-child-")), "stopped");
    // The parent dies while the child "starts" (2 s), before its shutdownOnSignals is set up.
    await killParentWhenChildSays("starting", {
      IPC_CHILD_START_MS: "2000",
      IPC_CHILD_STOPPED_FILE: stoppedFile,
    });
    expect(existsSync(stoppedFile)).toBe(true);
  }, 45_000);
});
