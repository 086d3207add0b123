import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { waitFor } from "../../test-support/wait.js";
import { guardRedisDurability, type ProcessLike, shutdownOnSignals } from "./process.js";

const logger = pino({ level: "silent" });

function fakeProcess() {
  const listeners = new Map<string, () => void>();
  const exits: number[] = [];
  const proc: ProcessLike = {
    on: (signal, listener) => listeners.set(signal, listener),
    exit: (code) => void exits.push(code),
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

  it("stops when its parent is killed with SIGKILL (the IPC channel closes)", async () => {
    // The parent spawns the child as the launcher does (IPC channel) and reports its pid.
    const child = fileURLToPath(new URL("../../test-support/ipc-child.ts", import.meta.url));
    const script = `
      const { spawn } = require("node:child_process");
      const c = spawn(process.execPath, ["--import", "tsx", ${JSON.stringify(child)}], {
        stdio: ["ignore", "pipe", "inherit", "ipc"],
      });
      c.stdout.on("data", (d) => { if (String(d).includes("ready")) console.log("child " + c.pid); });
    `;
    const parent = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let childPid = 0;
    try {
      childPid = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("child not ready in 30 s")), 30_000);
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
  }, 45_000);
});
