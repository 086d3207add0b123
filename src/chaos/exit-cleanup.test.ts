/**
 * `npm run chaos` leaves nothing running on any exit path (newuser F12): a start that times out and
 * a SIGTERM during the start stop every process it started and its redis-server, and remove Redis's
 * temp dir; `--help` prints usage. Real child processes: the suite runs in its own process group,
 * whose members are checked after it exited.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { waitFor } from "../test-support/wait.js";

const hasRedisBinary = spawnSync("redis-server", ["--version"]).status === 0;

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
  tmp: string;
}

const runs: Run[] = [];

function chaos(args: string[]): Run {
  // Its own TMPDIR: the private Redis's temp dir is made there, so what is left is visible.
  const tmp = mkdtempSync(join(tmpdir(), "chaos-exit-"));
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  delete env.REDIS_URL; // its own redis-server, as `npm run chaos` starts it
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "src/chaos/main.ts", "--log", join(tmp, "chaos.log"), ...args],
    {
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // a process group of its own: everything it starts is in it
    },
  );
  let text = "";
  child.stdout!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const run = { child, output: () => text, exited, tmp };
  runs.push(run);
  return run;
}

/** Pids still alive in the process group led by `pgid` (the suite's children, its redis-server). */
function groupMembers(pgid: number): number[] {
  const out = execFileSync("ps", ["-eo", "pid=,pgid=,stat="], { encoding: "utf8" });
  return out
    .split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([, group, stat]) => Number(group) === pgid && !stat?.startsWith("Z"))
    .map(([pid]) => Number(pid));
}

const leftRedisDirs = (run: Run) =>
  readdirSync(run.tmp).filter((name) => name.startsWith("ordersaga-redis-"));

afterEach(() => {
  for (const run of runs.splice(0)) {
    try {
      process.kill(-run.child.pid!, "SIGKILL");
    } catch {
      // nothing left: the expected case
    }
    rmSync(run.tmp, { recursive: true, force: true });
  }
});

describe("npm run chaos on every exit path", () => {
  it("--help prints the usage and exits 0", async () => {
    const run = chaos(["--help"]);
    expect(await run.exited).toBe(0);
    expect(run.output()).toMatch(/^Usage: npm run chaos -- \[options\]/);
    expect(run.output()).toMatch(/--start-timeout-ms/);
    expect(run.output()).toMatch(/--log FILE/);
  }, 60_000);

  it("an unknown option prints the usage and exits 2, without a stack trace", async () => {
    const run = chaos(["--bogus"]);
    expect(await run.exited).toBe(2);
    expect(run.output()).toMatch(/Unknown option '--bogus'/);
    expect(run.output()).toMatch(/Usage:/);
    expect(run.output()).not.toMatch(/\n\s+at /);
  }, 60_000);

  it.skipIf(!hasRedisBinary)(
    "a start that times out names what was not up, exits 1 and leaves no process or temp dir",
    async () => {
      const run = chaos(["--faults", "none", "--runs", "1", "--start-timeout-ms", "500"]);
      expect(await run.exited).toBe(1);
      expect(run.output()).toMatch(/the system did not start within 500 ms: not up: [a-z#0-9, ]+/);
      expect(run.output()).toMatch(/--start-timeout-ms/);
      expect(run.output()).not.toMatch(/\n\s+at /);
      expect(groupMembers(run.child.pid!)).toEqual([]);
      expect(leftRedisDirs(run)).toEqual([]);
    },
    120_000,
  );

  it.skipIf(!hasRedisBinary)(
    "SIGTERM while the system starts stops everything it started and removes Redis's temp dir",
    async () => {
      const run = chaos(["--faults", "none", "--runs", "1", "--start-timeout-ms", "600000"]);
      const pgid = run.child.pid!;
      // Redis and the nine service processes are up or starting: the suite plus at least 10 more.
      await waitFor(() => groupMembers(pgid).length >= 11, 60_000, "the system's processes", 200);
      expect(leftRedisDirs(run)).toHaveLength(1);
      run.child.kill("SIGTERM");
      expect(await run.exited).toBe(143);
      expect(groupMembers(pgid)).toEqual([]);
      expect(leftRedisDirs(run)).toEqual([]);
    },
    120_000,
  );
});
